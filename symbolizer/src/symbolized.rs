//! What an address turns into.

use firebox_model::{Frame, FrameKind};

/// Where a frame's name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The ELF symbol tables (`.symtab`, `.dynsym`) of the binary itself.
    Symtab,
    /// DWARF debug info in the binary itself.
    Dwarf,
    /// A separate debug file (found by build-id, debuglink or a finder).
    DebugFile,
    /// A JIT's perf map (`/tmp/perf-PID.map`).
    PerfMap,
    /// The kernel's symbols (`/proc/kallsyms`).
    Kernel,
    /// Nothing resolved the address.
    Unresolved,
}

impl Source {
    /// A short lowercase name for summaries: `symtab`, `dwarf`, `debug-file`,
    /// `perf-map`, `kernel`, `unresolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Symtab => "symtab",
            Source::Dwarf => "dwarf",
            Source::DebugFile => "debug-file",
            Source::PerfMap => "perf-map",
            Source::Kernel => "kernel",
            Source::Unresolved => "unresolved",
        }
    }

    /// Whether a name was found.
    pub fn is_resolved(self) -> bool {
        self != Source::Unresolved
    }
}

/// The frames one address stands for: more than one when functions were
/// inlined into each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbolized {
    /// Outermost first: the real function, then the functions inlined into
    /// it, down to the innermost one at the address.
    pub frames: Vec<Frame>,
    /// Where the names came from.
    pub source: Source,
}

impl Symbolized {
    /// The frame for an address in `module` that nothing resolved:
    /// `libfoo.so+0x1a2b`.
    pub fn unresolved_in(module: &str, offset: u64) -> Self {
        Symbolized {
            frames: vec![Frame::native(format!("{module}+{offset:#x}"))],
            source: Source::Unresolved,
        }
    }

    /// The frame for an address that lies in no known module.
    pub fn unknown() -> Self {
        Symbolized {
            frames: vec![Frame::new("[unknown]", FrameKind::Marker)],
            source: Source::Unresolved,
        }
    }

    /// The frame for a kernel address that no kernel symbol holds.
    pub fn unknown_kernel() -> Self {
        Symbolized { frames: vec![Frame::kernel("[unknown]")], source: Source::Unresolved }
    }

    /// The innermost frame's name: the function the address is in.
    pub fn leaf_name(&self) -> &str {
        self.frames.last().map_or("", |f| f.name.as_str())
    }
}

/// The files a module's names were read from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleFile {
    /// The binary's GNU build-id.
    pub build_id: Option<Vec<u8>>,
    /// The binary as the host opened it (`/proc/PID/map_files/...`,
    /// `/proc/PID/root/...`, a finder's copy); none when only its debug file
    /// was found.
    pub path: Option<std::path::PathBuf>,
    /// The separate debug file the names came from, if any.
    pub debug_file: Option<std::path::PathBuf>,
}
