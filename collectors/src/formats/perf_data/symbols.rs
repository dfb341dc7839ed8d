//! Names for addresses in a perf.data file that was recorded on this host:
//! the ELF symbol tables of the mapped files and `/proc/kallsyms`.
//!
//! The symbolizer crate is asked first; this is what perf.data reading falls
//! back to when it leaves an address unresolved, so that a recording made
//! here reads with the names `perf script` shows. It reads files at the
//! paths the mmap records name, on the host, which is right only for
//! recordings of host processes made on this machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// Sorted function symbols of one file, by virtual address.
struct Table {
    /// `(start, size, name)`, sorted by start.
    symbols: Vec<(u64, u64, String)>,
    /// `(file offset, file size, virtual address)` of the loadable segments.
    segments: Vec<(u64, u64, u64)>,
}

/// ELF and kernel symbol tables, loaded on first use.
#[derive(Default)]
pub(crate) struct Symbols {
    files: HashMap<PathBuf, Option<Table>>,
    kernel: Option<Vec<(u64, String)>>,
}

impl Symbols {
    /// The function containing the byte at `file_offset` of `path`.
    pub(crate) fn user(&mut self, path: &Path, file_offset: u64) -> Option<&str> {
        let table = self.files.entry(path.to_path_buf()).or_insert_with(|| load(path)).as_ref()?;
        let &(_, _, vaddr) = table
            .segments
            .iter()
            .find(|(off, size, _)| (*off..off + size).contains(&file_offset))?;
        let segment = table
            .segments
            .iter()
            .find(|(off, size, _)| (*off..off + size).contains(&file_offset))?;
        let addr = file_offset - segment.0 + vaddr;
        let at = table.symbols.partition_point(|(start, _, _)| *start <= addr).checked_sub(1)?;
        let (start, size, name) = &table.symbols[at];
        (addr < start + (*size).max(1)).then_some(name.as_str())
    }

    /// The kernel function at `addr`, from `/proc/kallsyms`.
    pub(crate) fn kernel(&mut self, addr: u64) -> Option<&str> {
        let table = self.kernel.get_or_insert_with(load_kallsyms);
        let at = table.partition_point(|(start, _)| *start <= addr).checked_sub(1)?;
        Some(table[at].1.as_str())
    }
}

fn load(path: &Path) -> Option<Table> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), demangle(s.name().ok()?))))
        .collect();
    symbols.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    symbols.dedup_by_key(|s| s.0);
    let segments = file
        .segments()
        .filter_map(|s| {
            let (offset, size) = s.file_range();
            (size > 0).then_some((offset, size, s.address()))
        })
        .collect();
    tracing::debug!(path = %path.display(), symbols = symbols.len(), "loaded a symbol table");
    Some(Table { symbols, segments })
}

fn load_kallsyms() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let mut table: Vec<(u64, String)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let addr = u64::from_str_radix(fields.next()?, 16).ok()?;
            let kind = fields.next()?;
            let name = fields.next()?;
            (addr != 0 && matches!(kind, "t" | "T" | "w" | "W")).then(|| (addr, name.to_string()))
        })
        .collect();
    table.sort();
    table
}

/// A readable name: Rust symbols (`_R`, and legacy `_ZN...17h<hash>E`)
/// through the Rust demangler without the hash, other `_Z` symbols through
/// the C++ one, anything else as it is.
pub(crate) fn demangle(name: &str) -> String {
    let legacy_rust = name.starts_with("_ZN") && name.ends_with('E') && name.contains("17h");
    if name.starts_with("_R") || legacy_rust {
        if let Ok(demangled) = rustc_demangle::try_demangle(name) {
            return format!("{demangled:#}");
        }
    }
    if name.starts_with("_Z") {
        if let Some(demangled) =
            cpp_demangle::Symbol::new(name).ok().and_then(|s| s.demangle().ok())
        {
            return demangled;
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn rust_and_cpp_names_demangle_apart() {
        assert_eq!(
            demangle("_ZN3app5cache5Store3get17h0123456789abcdefE"),
            "app::cache::Store::get"
        );
        assert_eq!(
            demangle("_ZN12_GLOBAL__N_113single_threadE"),
            "(anonymous namespace)::single_thread"
        );
        assert_eq!(demangle("_Z4betav"), "beta()");
        assert_eq!(demangle("main"), "main");
    }
}
