//! What a [`Symbolizer`](crate::Symbolizer) may look at, and the hooks that
//! let other parts of firebox hand it files (image layers, caches).

use std::fmt;
use std::path::{Path, PathBuf};

/// Settings of a [`Symbolizer`](crate::Symbolizer).
pub struct SymbolizerConfig {
    /// Extra directories that hold debug files, laid out either as a
    /// build-id tree (`.build-id/xx/rest.debug`), flat (`<debuglink name>` or
    /// `<build-id>.debug`) or as perf's cache (`<path>/<build-id>/debug`).
    /// They are searched after the process's own root.
    pub debug_dirs: Vec<PathBuf>,
    /// Hooks asked for binaries and debug files by build-id, in order, after
    /// the process's root and before [`SymbolizerConfig::debug_dirs`].
    pub finders: Vec<Box<dyn DebugInfoFinder>>,
    /// Whether to report functions inlined at an address as frames of their
    /// own ([`firebox_model::FrameKind::Inlined`]).
    pub inlined_frames: bool,
    /// Whether a binary may be read at the same path on the host when it is
    /// not reachable through the process's root. Even then a file is used
    /// only when its build-id matches the mapping's.
    pub host_fallback: bool,
    /// The kernel's symbol table.
    pub kallsyms: PathBuf,
}

impl Default for SymbolizerConfig {
    fn default() -> Self {
        SymbolizerConfig {
            debug_dirs: Vec::new(),
            finders: Vec::new(),
            inlined_frames: true,
            host_fallback: true,
            kallsyms: PathBuf::from("/proc/kallsyms"),
        }
    }
}

impl fmt::Debug for SymbolizerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SymbolizerConfig { debug_dirs, finders, inlined_frames, host_fallback, kallsyms } =
            self;
        f.debug_struct("SymbolizerConfig")
            .field("debug_dirs", debug_dirs)
            .field("finders", &finders.len())
            .field("inlined_frames", inlined_frames)
            .field("host_fallback", host_fallback)
            .field("kallsyms", kallsyms)
            .finish()
    }
}

/// What a [`DebugInfoFinder`] is asked about.
#[derive(Clone, Copy, Debug)]
pub struct DebugRequest<'a> {
    /// The GNU build-id of the binary.
    pub build_id: &'a [u8],
    /// The binary's path as the process sees it.
    pub path: &'a Path,
    /// The process's root as the host sees it.
    pub root: &'a Path,
}

impl DebugRequest<'_> {
    /// The build-id as lowercase hex.
    pub fn build_id_hex(&self) -> String {
        hex(self.build_id)
    }
}

/// A source of binaries and debug files beyond the process's root, such as
/// the layers of a container image.
///
/// Whatever a finder returns is checked: a file whose build-id differs from
/// the requested one is not used. A closure
/// `Fn(&DebugRequest) -> Option<PathBuf>` is a finder of debug files.
pub trait DebugInfoFinder {
    /// A file holding the debug info (DWARF or a full symbol table) for the
    /// binary with `request.build_id`.
    fn find_debug_file(&self, request: &DebugRequest<'_>) -> Option<PathBuf>;

    /// A copy of the binary itself, for when the process is gone or its file
    /// cannot be read. None by default.
    fn find_binary(&self, request: &DebugRequest<'_>) -> Option<PathBuf> {
        let _ = request;
        None
    }
}

impl<F> DebugInfoFinder for F
where
    F: Fn(&DebugRequest<'_>) -> Option<PathBuf>,
{
    fn find_debug_file(&self, request: &DebugRequest<'_>) -> Option<PathBuf> {
        self(request)
    }
}

/// `bytes` as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
