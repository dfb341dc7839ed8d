//! What the layer index needs to know of an ELF file held in memory: its
//! build-id, and whether it carries anything a stripped binary lacks.

use object::{Object, ObjectSection};

/// The facts of one ELF file found in a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ElfFacts {
    /// The GNU build-id.
    pub(crate) build_id: Vec<u8>,
    /// It holds `.debug_info` with contents.
    pub(crate) dwarf: bool,
    /// It holds a `.symtab` with contents.
    pub(crate) symtab: bool,
    /// Its `.text` has contents: a whole binary, not a debug-only file made
    /// by `objcopy --only-keep-debug`.
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

/// The facts of the ELF file in `data`; `None` when it does not parse or has
/// no GNU build-id (such a file cannot be matched to a mapping by content).
pub(crate) fn facts(data: &[u8]) -> Option<ElfFacts> {
    let file = object::File::parse(data).ok()?;
    let build_id = file.build_id().ok().flatten().filter(|id| !id.is_empty())?.to_vec();
    let has_contents = |name: &str| {
        file.section_by_name(name).and_then(|s| s.file_range()).is_some_and(|(_, size)| size > 0)
    };
    Some(ElfFacts {
        build_id,
        dwarf: has_contents(".debug_info") || has_contents(".zdebug_info"),
        symtab: has_contents(".symtab"),
        code: has_contents(".text"),
    })
}
