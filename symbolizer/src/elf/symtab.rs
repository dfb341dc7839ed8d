//! A sorted function symbol table read with `object`, for ELF images that
//! exist only in memory.
//!
//! The vDSO is mapped by the kernel and has no file that blazesym could
//! open, so its few dynamic symbols are looked up here by hand.

use object::{Object, ObjectSymbol, SymbolKind};

/// Function symbols by address.
#[derive(Debug, Default)]
pub(crate) struct SymbolTable {
    /// Start, size (0 when unknown) and name, sorted by start.
    symbols: Vec<(u64, u64, String)>,
}

impl SymbolTable {
    /// The function symbols of `object`, from `.symtab` and `.dynsym`.
    pub(crate) fn from_object<'data>(object: &object::File<'data>) -> Self {
        let mut symbols: Vec<(u64, u64, String)> = object
            .symbols()
            .chain(object.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .filter(|(_, _, name)| !name.is_empty())
            .collect();
        symbols.sort();
        symbols.dedup_by_key(|s| s.0);
        SymbolTable { symbols }
    }

    /// The name of the function that holds virtual address `vaddr`.
    pub(crate) fn find(&self, vaddr: u64) -> Option<&str> {
        let at = self.symbols.partition_point(|s| s.0 <= vaddr).checked_sub(1)?;
        let (start, size, name) = &self.symbols[at];
        let inside = if *size > 0 {
            vaddr - start < *size
        } else {
            // Without a size, the symbol reaches to the next one.
            self.symbols.get(at + 1).is_none_or(|next| vaddr < next.0)
        };
        inside.then_some(name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses inside a sized symbol resolve to it, gaps resolve to none.
    #[test]
    fn lookup_respects_sizes() {
        let table =
            SymbolTable { symbols: vec![(0x100, 0x10, "a".into()), (0x200, 0, "b".into())] };
        assert_eq!(table.find(0x100), Some("a"));
        assert_eq!(table.find(0x10f), Some("a"));
        assert_eq!(table.find(0x110), None);
        assert_eq!(table.find(0x50), None);
        assert_eq!(table.find(0x5000), Some("b"));
    }
}
