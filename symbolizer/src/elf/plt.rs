//! Names for a binary's PLT stubs: `strlen@plt`.
//!
//! A call into a shared library goes through a stub in the caller's
//! `.plt` (or `.plt.sec`, `.plt.got`), which no symbol covers: a symbol
//! lookup names the nearest symbol before it, `_init`, and startup code
//! seems to burn the time of a hot call. Each stub jumps through a GOT slot
//! that a dynamic relocation fills with the function's address, and that
//! relocation names the function. blazesym leaves stubs unnamed and no
//! crate reads them, so the stubs are decoded here (the `jmp *slot(%rip)`
//! each one holds) and their relocations read with `object`.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;

use object::read::elf::{ElfFile64, SectionHeader};
use object::{
    Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, ReadCache, RelocationTarget, SymbolKind,
};

/// The sections that hold stubs.
const PLT_SECTIONS: [&str; 3] = [".plt", ".plt.sec", ".plt.got"];

/// The name of a stub's address that no relocation names.
pub(crate) const UNNAMED_STUB: &str = "[plt]";

/// The PLT stubs of one binary, by virtual address.
#[derive(Debug, Default)]
pub(crate) struct PltStubs {
    /// The PLT sections' address ranges.
    sections: Vec<Range<u64>>,
    /// Each named stub's address range and function, sorted.
    stubs: Vec<(Range<u64>, String)>,
}

impl PltStubs {
    /// The stubs of the binary at `path`; none when it cannot be read or
    /// is not a 64-bit little-endian ELF file.
    pub(crate) fn read(path: &Path) -> PltStubs {
        let Ok(file) = File::open(path) else { return PltStubs::default() };
        let cache = ReadCache::new(file);
        match ElfFile64::<object::LittleEndian, _>::parse(&cache) {
            Ok(elf) => PltStubs::of(&elf),
            Err(_) => PltStubs::default(),
        }
    }

    fn of<'data, R: object::ReadRef<'data>>(
        elf: &ElfFile64<'data, object::LittleEndian, R>,
    ) -> PltStubs {
        let slots = slot_names(elf);
        let mut plt = PltStubs::default();
        for section in PLT_SECTIONS.iter().filter_map(|name| elf.section_by_name(name)) {
            let Ok(code) = section.data() else { continue };
            let address = section.address();
            plt.sections.push(address..address + section.size());
            let entry = match section.elf_section_header().sh_entsize(elf.endian()) {
                size @ 8..=64 => size as usize,
                _ => 16,
            };
            for (i, stub) in code.chunks(entry).enumerate() {
                let start = address + (i * entry) as u64;
                let Some(slot) = jump_slot(stub, start) else { continue };
                if let Some(name) = slots.get(&slot) {
                    plt.stubs.push((start..start + stub.len() as u64, name.clone()));
                }
            }
        }
        plt.stubs.sort_by_key(|(range, _)| range.start);
        plt
    }

    /// `NAME@plt` for an address in a named stub, [`UNNAMED_STUB`] for
    /// another address in a PLT section, `None` elsewhere.
    pub(crate) fn find(&self, vaddr: u64) -> Option<String> {
        if !self.sections.iter().any(|s| s.contains(&vaddr)) {
            return None;
        }
        let at = self.stubs.partition_point(|(range, _)| range.start <= vaddr).checked_sub(1);
        match at.map(|i| &self.stubs[i]) {
            Some((range, name)) if range.contains(&vaddr) => Some(format!("{name}@plt")),
            _ => Some(UNNAMED_STUB.to_string()),
        }
    }
}

/// The GOT slot that the `jmp *disp32(%rip)` in `stub` (at `address`)
/// jumps through, with or without a `bnd` prefix.
fn jump_slot(stub: &[u8], address: u64) -> Option<u64> {
    let at = stub.windows(6).position(|w| w[0] == 0xff && w[1] == 0x25)?;
    let disp = i32::from_le_bytes(stub[at + 2..at + 6].try_into().ok()?);
    let next = address + at as u64 + 6;
    Some(next.wrapping_add_signed(i64::from(disp)))
}

/// The function each dynamic relocation fills a slot with, by slot.
fn slot_names<'data, R: object::ReadRef<'data>>(
    elf: &ElfFile64<'data, object::LittleEndian, R>,
) -> HashMap<u64, String> {
    let mut names = HashMap::new();
    let (Some(relocations), Some(symbols)) =
        (elf.dynamic_relocations(), elf.dynamic_symbol_table())
    else {
        return names;
    };
    // An IRELATIVE slot is filled with what the resolver at its addend
    // picks (libc's own strlen and memcpy): named after the symbol there.
    let mut resolvers: Option<HashMap<u64, String>> = None;
    for (slot, relocation) in relocations {
        let symbol = match relocation.target() {
            RelocationTarget::Symbol(index) => symbols.symbol_by_index(index).ok(),
            _ => None,
        };
        let name = symbol.and_then(|s| s.name().ok()).filter(|n| !n.is_empty());
        let name = match name {
            Some(name) => Some(name.to_string()),
            // No symbol (index 0): the addend is the resolver's address.
            None if relocation.addend() > 0 => {
                let resolvers = resolvers.get_or_insert_with(|| functions_by_address(elf));
                resolvers.get(&(relocation.addend() as u64)).cloned()
            }
            None => None,
        };
        if let Some(name) = name {
            names.insert(slot, name);
        }
    }
    names
}

/// The name of the function at each address, from the dynamic symbols
/// first (the exported name), then the symbol table.
fn functions_by_address<'data, R: object::ReadRef<'data>>(
    elf: &ElfFile64<'data, object::LittleEndian, R>,
) -> HashMap<u64, String> {
    let mut names = HashMap::new();
    for symbol in elf.dynamic_symbols().chain(elf.symbols()) {
        // A resolver is an STT_GNU_IFUNC symbol, of no kind `object` names.
        let function = matches!(symbol.kind(), SymbolKind::Text | SymbolKind::Unknown);
        if !function || symbol.section_index().is_none() {
            continue;
        }
        if let Ok(name) = symbol.name() {
            if !name.is_empty() {
                names.entry(symbol.address()).or_insert_with(|| name.to_string());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A program calling libc through its PLT, built with `flags`.
    fn build(name: &str, flags: &[&str]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("firebox-plt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("calls.c");
        std::fs::write(
            &source,
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
             int main(int argc, char **argv) {\n\
                 printf(\"%zu %d\\n\", strlen(argv[0]), abs(argc));\n\
                 return atoi(argc > 1 ? argv[1] : \"0\");\n}\n",
        )
        .unwrap();
        let out = dir.join("calls");
        let status = Command::new("cc")
            .args(["-O2", "-fno-builtin"])
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("`cc` (Debian's gcc) is needed: {e}"));
        assert!(status.success(), "cc {flags:?} failed");
        out
    }

    /// The stubs `objdump -d` labels `NAME@plt`, with their addresses.
    fn objdump_stubs(path: &Path) -> Vec<(u64, String)> {
        let output = Command::new("objdump")
            .arg("-d")
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("`objdump` (Debian's binutils) is needed: {e}"));
        assert!(output.status.success(), "objdump -d failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let (address, label) = line.strip_suffix(">:")?.split_once(" <")?;
                let name = label.strip_suffix("@plt")?;
                Some((u64::from_str_radix(address, 16).ok()?, name.to_string()))
            })
            .collect()
    }

    /// Every stub objdump names is named alike, at its first and its last
    /// byte, lazily bound or not; the address before the first stub is the
    /// unnamed first entry of `.plt`.
    #[test]
    fn stubs_are_named_as_objdump_names_them() {
        for (name, flags) in [("lazy", &[][..]), ("now", &["-Wl,-z,now"][..])] {
            let binary = build(name, flags);
            let expected = objdump_stubs(&binary);
            let names: Vec<&str> = expected.iter().map(|(_, n)| n.as_str()).collect();
            for function in ["strlen", "abs", "printf"] {
                assert!(names.contains(&function), "{name}: objdump names {names:?}");
            }
            let plt = PltStubs::read(&binary);
            for (address, function) in &expected {
                let want = format!("{function}@plt");
                assert_eq!(plt.find(*address).as_deref(), Some(want.as_str()), "{name}");
                assert_eq!(plt.find(*address + 7).as_deref(), Some(want.as_str()), "{name}");
            }
            let first = expected.iter().map(|(a, _)| *a).min().unwrap();
            if name == "lazy" {
                assert_eq!(plt.find(first - 1).as_deref(), Some(UNNAMED_STUB));
            }
            let main = plt.sections.iter().map(|s| s.end).max().unwrap() + 0x100;
            assert_eq!(plt.find(main), None, "{name}: past the stubs is no stub");
        }
    }

    /// Debian's libc calls its own string functions through stubs whose
    /// slots an IRELATIVE relocation fills (`objdump -d` labels them
    /// `*ABS*+0xADDR@plt`): each is named after a function `nm -D` lists
    /// at ADDR, the resolver.
    #[test]
    fn irelative_stubs_are_named_after_their_resolver() {
        let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
        let output = Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(libc)
            .output()
            .unwrap_or_else(|e| panic!("`nm` (Debian's binutils) is needed: {e}"));
        let mut at: HashMap<u64, Vec<String>> = HashMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut fields = line.split_whitespace();
            let (Some(address), Some(_), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name).to_string();
            at.entry(u64::from_str_radix(address, 16).unwrap()).or_default().push(name);
        }
        let plt = PltStubs::read(libc);
        let mut checked = 0;
        for (stub, label) in objdump_stubs(libc) {
            let Some(resolver) = label.strip_prefix("*ABS*+0x") else { continue };
            let resolver = u64::from_str_radix(resolver, 16).unwrap();
            let name = plt.find(stub).unwrap_or_default();
            let function = name.strip_suffix("@plt").unwrap_or(&name);
            let names = at.get(&resolver).cloned().unwrap_or_default();
            assert!(names.iter().any(|n| n == function), "{stub:#x}: {name} not in {names:?}");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} IRELATIVE stubs in libc");
    }

    #[test]
    fn the_slot_is_where_the_jump_reads() {
        // jmp *0x2fe2(%rip) at 0x1030, as `objdump -d` shows a stub.
        let stub = [0xff, 0x25, 0xe2, 0x2f, 0, 0, 0x68, 0, 0, 0, 0, 0xe9, 0xe0, 0xff, 0xff, 0xff];
        assert_eq!(jump_slot(&stub, 0x1030), Some(0x1036 + 0x2fe2));
        // endbr64; bnd jmp *-0x10(%rip)
        let sec = [0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, 0xf0, 0xff, 0xff, 0xff, 0x90];
        assert_eq!(jump_slot(&sec, 0x2000), Some(0x2000 + 11 - 0x10));
        // push; bnd jmp to the first entry: no slot.
        assert_eq!(jump_slot(&[0xf3, 0x0f, 0x1e, 0xfa, 0x68, 1, 0, 0, 0, 0xf2, 0xe9], 0), None);
    }
}
