//! The process and mapping an address was sampled in.

use std::path::{Path, PathBuf};

/// A process as the symbolizer needs to see it.
#[derive(Clone, Debug)]
pub struct ProcessView {
    /// Host pid of the process.
    pub pid: u32,
    /// Where the process's filesystem is seen from the host: `/proc/PID/root`.
    pub root: PathBuf,
}

impl ProcessView {
    /// The view of a live process through `/proc/PID/root`.
    pub fn of_pid(pid: u32) -> Self {
        ProcessView { pid, root: PathBuf::from(format!("/proc/{pid}/root")) }
    }
}

/// A file-backed mapping of a process, as an mmap record or `/proc/PID/maps`
/// describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// First address of the mapping.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file at which the mapping starts.
    pub file_offset: u64,
    /// The path as the process sees it (inside its mount namespace), or a
    /// pseudo name such as `[vdso]`.
    pub path: PathBuf,
    /// The GNU build-id, when the kernel reported it.
    pub build_id: Option<Vec<u8>>,
}

impl Mapping {
    /// The file offset of `addr`, which must lie in the mapping.
    pub fn file_offset_of(&self, addr: u64) -> u64 {
        addr - self.start + self.file_offset
    }

    /// The file name of the mapped module (`libc.so.6`).
    pub fn module_name(&self) -> String {
        module_name(&self.path)
    }

    /// What kind of memory the mapping is, judged by its path.
    pub fn kind(&self) -> MappingKind {
        MappingKind::of(&self.path)
    }
}

/// What kind of memory a mapping is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingKind {
    /// A regular file (possibly deleted since it was mapped).
    File,
    /// A `memfd_create` file: readable only through `/proc/PID/map_files`.
    Memfd,
    /// The kernel's vDSO, readable only from the process's memory.
    Vdso,
    /// Anonymous memory (`//anon`, `[anon:name]`, `[heap]`, `[stack]`, no
    /// path), where JIT-compiled code lives.
    Anon,
    /// Another kernel-provided region (`[vvar]`, `[vsyscall]`).
    Special,
}

impl MappingKind {
    /// The kind of a mapping with `path`.
    pub fn of(path: &Path) -> Self {
        let text = path.to_string_lossy();
        let text = text.as_ref();
        if text.is_empty() || text == "//anon" || text.starts_with("/dev/zero") {
            return MappingKind::Anon;
        }
        if text == "[vdso]" {
            return MappingKind::Vdso;
        }
        if text.starts_with("[anon")
            || text == "[heap]"
            || text.starts_with("[stack")
            || text.starts_with("/anon_hugepage")
            || text.starts_with("/SYSV")
        {
            return MappingKind::Anon;
        }
        if text.starts_with('[') {
            return MappingKind::Special;
        }
        if text.starts_with("/memfd:") {
            return MappingKind::Memfd;
        }
        MappingKind::File
    }
}

/// The file name of `path`, or the whole path when it has none; the
/// ` (deleted)` the kernel appends to removed files is left out.
pub fn module_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
    name.strip_suffix(" (deleted)").unwrap_or(&name).to_string()
}

/// `path` without the ` (deleted)` suffix the kernel gives removed files.
pub(crate) fn live_path(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    match text.strip_suffix(" (deleted)") {
        Some(live) => PathBuf::from(live),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths as `/proc/PID/maps` and mmap records show them get their kind.
    #[test]
    fn kinds_of_mapping_paths() {
        let cases = [
            ("/usr/lib/libc.so.6", MappingKind::File),
            ("/usr/bin/app (deleted)", MappingKind::File),
            ("/memfd:jit-code (deleted)", MappingKind::Memfd),
            ("[vdso]", MappingKind::Vdso),
            ("//anon", MappingKind::Anon),
            ("", MappingKind::Anon),
            ("[anon:v8 code]", MappingKind::Anon),
            ("[stack]", MappingKind::Anon),
            ("[heap]", MappingKind::Anon),
            ("[vsyscall]", MappingKind::Special),
        ];
        for (path, kind) in cases {
            assert_eq!(MappingKind::of(Path::new(path)), kind, "for {path:?}");
        }
    }

    /// Module names drop the directory and the deleted marker.
    #[test]
    fn module_names() {
        assert_eq!(module_name(Path::new("/usr/lib/libc.so.6")), "libc.so.6");
        assert_eq!(module_name(Path::new("/usr/bin/app (deleted)")), "app");
        assert_eq!(module_name(Path::new("/memfd:jit (deleted)")), "memfd:jit");
        assert_eq!(module_name(Path::new("[vdso]")), "[vdso]");
    }
}
