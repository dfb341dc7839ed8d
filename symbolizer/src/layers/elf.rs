//! What the layer index needs to know of an ELF file held in memory: its
//! build-id, and whether it carries anything a stripped binary lacks.

use std::path::Path;

use crate::elf::ElfInfo;

/// The facts of one ELF file found in a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ElfFacts {
    /// The GNU build-id.
    pub(crate) build_id: Vec<u8>,
    /// It holds `.debug_info` with contents.
    pub(crate) dwarf: bool,
    /// It holds a `.symtab` with contents.
    pub(crate) symtab: bool,
    /// It is a whole binary, not a debug-only file.
    pub(crate) code: bool,
}

impl ElfFacts {
    /// Whether the file is worth keeping: it names functions that a stripped
    /// copy of the binary cannot.
    pub(crate) fn has_debug_info(&self) -> bool {
        self.dwarf || self.symtab
    }
}

/// Whether `head` starts like an ELF file.
pub(crate) fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// The facts of the ELF file in `data` (at `path` in its layer); `None` when
/// it does not parse or has no GNU build-id (such a file cannot be matched to
/// a mapping by content).
pub(crate) fn facts(data: &[u8], path: &str) -> Option<ElfFacts> {
    let info = ElfInfo::from_bytes(data, Path::new(path)).ok()?;
    let build_id = info.build_id.filter(|id| !id.is_empty())?;
    Some(ElfFacts { build_id, dwarf: info.has_dwarf, symtab: info.has_symtab, code: info.has_code })
}
