//! Kernel addresses through `/proc/kallsyms`.
//!
//! The table is read once and sorted; an address belongs to the symbol with
//! the greatest start at or below it, when that symbol is code. Reading it
//! by hand keeps the lookup to kallsyms alone: blazesym's kernel source also
//! goes looking for `vmlinux` images on the host, which a profile of a
//! running kernel does not need.
//!
//! # Limitations
//!
//! kallsyms has no sizes, so an address past the end of the last function
//! before a gap is attributed to that function. When the kernel hides
//! addresses (`kptr_restrict`, not root) every address reads as zero and
//! nothing resolves.

use std::io::BufRead;
use std::path::Path;

use crate::Error;

/// One kernel symbol, borrowed from its [`Kallsyms`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSymbol<'a> {
    /// Its start address.
    pub addr: u64,
    /// Its name, without the module.
    pub name: &'a str,
    /// The module it lives in (`kvm`), or none for the kernel image.
    pub module: Option<&'a str>,
    /// Whether it is code (types `t`, `T`, `w`, `W`).
    pub is_text: bool,
}

/// One row of the table: names live in one shared string, so a kernel's
/// hundred thousand symbols cost a few megabytes, not a few tens.
#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: u64,
    name_start: u32,
    name_len: u32,
    /// Index into `modules` plus one; 0 for the kernel image.
    module: u16,
    is_text: bool,
}

/// The kernel's symbol table, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    entries: Vec<Entry>,
    names: String,
    modules: Vec<String>,
}

impl Kallsyms {
    /// Reads and sorts the table at `path` (normally `/proc/kallsyms`),
    /// line by line.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut table = Kallsyms::default();
        for line in std::io::BufReader::new(file).lines() {
            table.push_line(&line.map_err(|e| Error::io(path, e))?);
        }
        table.finish();
        Ok(table)
    }

    /// Parses kallsyms text: `ADDR TYPE NAME [MODULE]` a line. Lines that do
    /// not have this shape are skipped.
    pub fn parse(text: &str) -> Self {
        let mut table = Kallsyms::default();
        for line in text.lines() {
            table.push_line(line);
        }
        table.finish();
        table
    }

    fn push_line(&mut self, line: &str) {
        let mut fields = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            return;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else { return };
        let module = fields.next().and_then(|m| m.strip_prefix('[')?.strip_suffix(']'));
        let module = match module {
            None => 0,
            Some(m) => match self.modules.iter().position(|known| known == m) {
                Some(i) => i + 1,
                None => {
                    self.modules.push(m.to_string());
                    self.modules.len()
                }
            },
        };
        let (Ok(name_start), Ok(name_len), Ok(module)) =
            (u32::try_from(self.names.len()), u32::try_from(name.len()), u16::try_from(module))
        else {
            return;
        };
        self.names.push_str(name);
        self.entries.push(Entry {
            addr,
            name_start,
            name_len,
            module,
            is_text: matches!(kind, "t" | "T" | "w" | "W"),
        });
    }

    fn finish(&mut self) {
        // Among symbols at one address, code names it best; the sort is
        // stable, so otherwise the first in the file wins.
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_by(|a, b| a.addr.cmp(&b.addr).then(self.rank(a).cmp(&self.rank(b))));
        entries.dedup_by_key(|e| e.addr);
        entries.shrink_to_fit();
        self.entries = entries;
        self.names.shrink_to_fit();
    }

    /// How many symbols the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether every address is zero, as when the kernel hides them.
    pub fn is_hidden(&self) -> bool {
        self.entries.iter().all(|e| e.addr == 0)
    }

    /// The code symbol that holds `addr`.
    pub fn find(&self, addr: u64) -> Option<KernelSymbol<'_>> {
        let at = self.entries.partition_point(|e| e.addr <= addr).checked_sub(1)?;
        let entry = &self.entries[at];
        (entry.is_text && entry.addr != 0).then(|| self.symbol(entry))
    }

    fn name(&self, entry: &Entry) -> &str {
        let start = entry.name_start as usize;
        &self.names[start..start + entry.name_len as usize]
    }

    fn symbol(&self, entry: &Entry) -> KernelSymbol<'_> {
        KernelSymbol {
            addr: entry.addr,
            name: self.name(entry),
            module: entry.module.checked_sub(1).map(|i| self.modules[i as usize].as_str()),
            is_text: entry.is_text,
        }
    }

    /// Lower is preferred when several symbols share an address.
    fn rank(&self, entry: &Entry) -> u8 {
        // `__pfx_` symbols name the padding in front of a function.
        u8::from(self.name(entry).starts_with("__pfx_")) * 2 + u8::from(!entry.is_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 T schedule
ffffffff81001000 t __pfx_schedule
ffffffff81001800 T io_schedule
ffffffff82000000 D some_data
ffffffffc0a01000 t kvm_vcpu_ioctl\t[kvm]
";

    /// Addresses inside a function name it; module brackets are dropped.
    #[test]
    fn finds_functions_and_modules() {
        let table = Kallsyms::parse(SAMPLE);
        assert_eq!(table.find(0xffffffff81001000).map(|s| s.name), Some("schedule"));
        assert_eq!(table.find(0xffffffff810017ff).map(|s| s.name), Some("schedule"));
        assert_eq!(table.find(0xffffffff81001801).map(|s| s.name), Some("io_schedule"));
        let kvm = table.find(0xffffffffc0a01010).unwrap();
        assert_eq!((kvm.name, kvm.module), ("kvm_vcpu_ioctl", Some("kvm")));
    }

    /// Data symbols and addresses below the first symbol resolve to nothing.
    #[test]
    fn data_and_low_addresses_are_unknown() {
        let table = Kallsyms::parse(SAMPLE);
        assert_eq!(table.find(0xffffffff82000010), None);
        assert_eq!(table.find(0x1000), None);
    }

    /// A table of zero addresses (kptr_restrict) is recognised as hidden.
    #[test]
    fn hidden_addresses_are_detected() {
        let table = Kallsyms::parse("0000000000000000 T schedule\n0000000000000000 T foo\n");
        assert!(table.is_hidden());
        assert_eq!(table.find(0), None);
    }
}
