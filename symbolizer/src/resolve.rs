//! Finding the file behind a mapping, as the process sees it.
//!
//! Candidates, in order: `/proc/PID/map_files/START-END` (the very file the
//! process mapped, even when it was deleted or replaced since), the mapping's
//! path under the process's root, the copies the configured finders know of
//! (image layers), and last the same path on the host. The caller checks each
//! against the mapping's build-id; the host copy is only offered when the
//! mapping has one, so a different host file at the same path is never used.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::config::{DebugRequest, SymbolizerConfig};
use crate::process::live_path;
use crate::{Mapping, MappingKind, ProcessView};

/// Where a candidate file came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    MapFiles,
    Root,
    Finder,
    Host,
}

/// The files that may be the one `mapping` of `process` maps, in order.
pub(crate) fn binary_candidates(
    process: &ProcessView,
    mapping: &Mapping,
    config: &SymbolizerConfig,
) -> Vec<(PathBuf, Origin)> {
    let mut out = vec![(
        PathBuf::from(format!(
            "/proc/{}/map_files/{:x}-{:x}",
            process.pid, mapping.start, mapping.end
        )),
        Origin::MapFiles,
    )];
    // A memfd exists under no path.
    if mapping.kind() == MappingKind::Memfd {
        return out;
    }

    let path = live_path(&mapping.path);
    out.push((in_root(&process.root, &path), Origin::Root));
    if let Some(build_id) = &mapping.build_id {
        let request = DebugRequest { build_id, path: &path, root: &process.root };
        out.extend(
            config
                .finders
                .iter()
                .filter_map(|f| f.find_binary(&request))
                .map(|p| (p, Origin::Finder)),
        );
        if config.host_fallback && path.is_absolute() && process.root != Path::new("/") {
            out.push((path, Origin::Host));
        }
    }
    out
}

/// The host path of `path` inside the filesystem whose root is `root`.
///
/// Symbolic links are followed by hand so that an absolute link target (a
/// container's `/lib -> /usr/lib`) stays inside `root`: the kernel would
/// resolve it against the host's root.
pub(crate) fn in_root(root: &Path, path: &Path) -> PathBuf {
    if root == Path::new("/") {
        return path.to_path_buf();
    }

    const MAX_LINKS: usize = 40;
    let mut pending: VecDeque<OsString> = normal_parts(path).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(part);
        let here = join(root, &resolved);
        let Ok(target) = std::fs::read_link(&here) else {
            continue;
        };
        links += 1;
        if links > MAX_LINKS {
            return here;
        }
        resolved.pop();
        if target.is_absolute() {
            resolved.clear();
        }
        for part in normal_parts(&target).collect::<Vec<_>>().into_iter().rev() {
            pending.push_front(part);
        }
    }
    join(root, &resolved)
}

/// The named parts of `path` and its `..`s, without the root and `.`s.
fn normal_parts(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(p) => Some(p.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut out = root.to_path_buf();
    out.extend(parts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absolute and relative links inside a root stay inside it, and `..`
    /// cannot climb above it.
    #[test]
    fn links_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("firebox-in-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/libx.so"), b"x").unwrap();
        std::os::unix::fs::symlink("/usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("../lib/libx.so", root.join("usr/lib/liby.so")).unwrap();

        assert_eq!(in_root(&root, Path::new("/lib/libx.so")), root.join("usr/lib/libx.so"));
        assert_eq!(in_root(&root, Path::new("/usr/lib/liby.so")), root.join("usr/lib/libx.so"));
        assert_eq!(in_root(&root, Path::new("/../../lib/libx.so")), root.join("usr/lib/libx.so"));
        assert_eq!(in_root(Path::new("/"), Path::new("/lib/x")), Path::new("/lib/x"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The host path is offered only for a mapping with a build-id.
    #[test]
    fn host_copy_needs_a_build_id() {
        let process = ProcessView { pid: 4100, root: PathBuf::from("/proc/4100/root") };
        let mut mapping = Mapping {
            start: 0x55d000000000,
            end: 0x55d000100000,
            file_offset: 0,
            path: PathBuf::from("/usr/local/bin/app"),
            build_id: None,
        };
        let config = SymbolizerConfig::default();
        let origins = |m: &Mapping| -> Vec<Origin> {
            binary_candidates(&process, m, &config).into_iter().map(|(_, o)| o).collect()
        };
        assert_eq!(origins(&mapping), [Origin::MapFiles, Origin::Root]);
        mapping.build_id = Some(vec![0xaa; 20]);
        assert_eq!(origins(&mapping), [Origin::MapFiles, Origin::Root, Origin::Host]);
        let first = binary_candidates(&process, &mapping, &config).remove(0).0;
        assert_eq!(first, Path::new("/proc/4100/map_files/55d000000000-55d000100000"));
    }
}
