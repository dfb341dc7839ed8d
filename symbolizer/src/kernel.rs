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

use std::path::Path;

use crate::Error;

/// One kernel symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Its start address.
    pub addr: u64,
    /// Its name, without the module.
    pub name: String,
    /// The module it lives in (`kvm`), or none for the kernel image.
    pub module: Option<String>,
    /// Whether it is code (types `t`, `T`, `w`, `W`).
    pub is_text: bool,
}

/// The kernel's symbol table, sorted by address.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    symbols: Vec<KernelSymbol>,
}

impl Kallsyms {
    /// Reads and sorts the table at `path` (normally `/proc/kallsyms`).
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(Kallsyms::parse(&text))
    }

    /// Parses kallsyms text: `ADDR TYPE NAME [MODULE]` a line. Lines that do
    /// not have this shape are skipped.
    pub fn parse(text: &str) -> Self {
        let mut symbols: Vec<KernelSymbol> = text.lines().filter_map(parse_line).collect();
        // Among symbols at one address, code names it best; the sort is
        // stable, so otherwise the first in the file wins.
        symbols.sort_by(|a, b| a.addr.cmp(&b.addr).then(rank(a).cmp(&rank(b))));
        symbols.dedup_by_key(|s| s.addr);
        Kallsyms { symbols }
    }

    /// How many symbols the table holds.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Whether every address is zero, as when the kernel hides them.
    pub fn is_hidden(&self) -> bool {
        self.symbols.iter().all(|s| s.addr == 0)
    }

    /// The code symbol that holds `addr`.
    pub fn find(&self, addr: u64) -> Option<&KernelSymbol> {
        let at = self.symbols.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let symbol = &self.symbols[at];
        (symbol.is_text && symbol.addr != 0).then_some(symbol)
    }
}

fn parse_line(line: &str) -> Option<KernelSymbol> {
    let mut fields = line.split_ascii_whitespace();
    let addr = u64::from_str_radix(fields.next()?, 16).ok()?;
    let kind = fields.next()?;
    let name = fields.next()?;
    let module = fields
        .next()
        .and_then(|m| m.strip_prefix('[').and_then(|m| m.strip_suffix(']')))
        .map(str::to_string);
    Some(KernelSymbol {
        addr,
        name: name.to_string(),
        module,
        is_text: matches!(kind, "t" | "T" | "w" | "W"),
    })
}

/// Lower is preferred when several symbols share an address.
fn rank(symbol: &KernelSymbol) -> u8 {
    // `__pfx_` symbols name the padding in front of a function.
    u8::from(symbol.name.starts_with("__pfx_")) * 2 + u8::from(!symbol.is_text)
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
        assert_eq!(table.find(0xffffffff81001000).map(|s| s.name.as_str()), Some("schedule"));
        assert_eq!(table.find(0xffffffff810017ff).map(|s| s.name.as_str()), Some("schedule"));
        assert_eq!(table.find(0xffffffff81001801).map(|s| s.name.as_str()), Some("io_schedule"));
        let kvm = table.find(0xffffffffc0a01010).unwrap();
        assert_eq!((kvm.name.as_str(), kvm.module.as_deref()), ("kvm_vcpu_ioctl", Some("kvm")));
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
