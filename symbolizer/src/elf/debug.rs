//! Finding the separate debug file of a stripped binary.
//!
//! Search order: the build-id tree under the process's root
//! (`<root>/usr/lib/debug/.build-id/xx/rest.debug`), then the
//! `.gnu_debuglink` name next to the binary, in its `.debug/` and under
//! `<root>/usr/lib/debug/<dir>/`, then the configured finders (image
//! layers), then the configured debug directories. Every candidate is checked
//! before it is used: its build-id must be the binary's (or, when the binary
//! has none, its CRC the debuglink's), and it must hold DWARF or a symbol
//! table. blazesym's own lookup is not used because it searches the host's
//! filesystem, not the process's root.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use tracing::debug;

use super::ElfInfo;
use crate::config::{hex, DebugRequest, SymbolizerConfig};

/// Where to look for the debug file of one binary.
pub(crate) struct DebugQuery<'a> {
    /// The binary's build-id, from the file or from the mapping.
    pub(crate) build_id: Option<&'a [u8]>,
    /// The `.gnu_debuglink` name and CRC, when the binary was readable.
    pub(crate) debuglink: Option<(&'a OsStr, u32)>,
    /// The binary's path as the process sees it.
    pub(crate) path: &'a Path,
    /// The process's root.
    pub(crate) root: &'a Path,
}

/// The first debug file for `query` that passes the checks, with its facts.
pub(crate) fn find(
    query: &DebugQuery<'_>,
    config: &SymbolizerConfig,
) -> Option<(PathBuf, ElfInfo)> {
    candidates(query, config).into_iter().find_map(|path| {
        let info = check(&path, query)?;
        debug!(debug_file = %path.display(), binary = %query.path.display(), "found debug file");
        Some((path, info))
    })
}

/// Every place the debug file may be, in search order.
fn candidates(query: &DebugQuery<'_>, config: &SymbolizerConfig) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let build_id_file = query.build_id.filter(|id| id.len() >= 2).map(|id| {
        let (first, rest) = id.split_at(1);
        Path::new(".build-id").join(hex(first)).join(format!("{}.debug", hex(rest)))
    });
    if let Some(file) = &build_id_file {
        out.push(query.root.join("usr/lib/debug").join(file));
    }

    let dir = query.path.parent().unwrap_or(Path::new("/"));
    if let Some((name, _)) = query.debuglink {
        let dir_in_root = under(query.root, dir);
        out.push(dir_in_root.join(name));
        out.push(dir_in_root.join(".debug").join(name));
        out.push(under(&query.root.join("usr/lib/debug"), dir).join(name));
    }

    if let Some(build_id) = query.build_id {
        let request = DebugRequest { build_id, path: query.path, root: query.root };
        out.extend(config.finders.iter().filter_map(|f| f.find_debug_file(&request)));
    }

    for extra in &config.debug_dirs {
        if let Some(file) = &build_id_file {
            out.push(extra.join(file));
        }
        if let Some((name, _)) = query.debuglink {
            out.push(extra.join(name));
            out.push(under(extra, dir).join(name));
        }
        if let Some(build_id) = query.build_id {
            let hex_id = hex(build_id);
            out.push(extra.join(format!("{hex_id}.debug")));
            // perf's build-id cache: `<dir>/<path>/<build-id>/debug`.
            out.push(under(extra, query.path).join(&hex_id).join("debug"));
        }
    }
    out
}

/// The candidate's facts when it is the debug file `query` asks for.
fn check(path: &Path, query: &DebugQuery<'_>) -> Option<ElfInfo> {
    if !path.is_file() {
        return None;
    }
    let info = match ElfInfo::read(path) {
        Ok(info) => info,
        Err(error) => {
            debug!(candidate = %path.display(), %error, "debug file candidate unreadable");
            return None;
        }
    };
    if !info.has_dwarf && !info.has_symtab {
        debug!(candidate = %path.display(), "debug file candidate has no symbols");
        return None;
    }
    match (query.build_id, info.build_id.as_deref()) {
        (Some(want), Some(have)) if want == have => Some(info),
        (Some(want), have) => {
            debug!(
                candidate = %path.display(),
                want = %hex(want),
                have = %have.map(hex).unwrap_or_default(),
                "debug file candidate rejected: build-id differs"
            );
            None
        }
        (None, _) => {
            let (_, crc) = query.debuglink?;
            (file_crc(path)? == crc).then_some(info)
        }
    }
}

/// `base` joined with the absolute `path` as if `base` were its root.
pub(crate) fn under(base: &Path, path: &Path) -> PathBuf {
    let mut parts: Vec<&OsStr> = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let mut out = base.to_path_buf();
    out.extend(parts);
    out
}

/// The CRC-32 that `.gnu_debuglink` records for the file at `path`.
fn file_crc(path: &Path) -> Option<u32> {
    let mut file = File::open(path).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build-id tree comes first and the debuglink places follow, all
    /// inside the root.
    #[test]
    fn candidates_stay_inside_the_root() {
        let config = SymbolizerConfig {
            debug_dirs: vec![PathBuf::from("/extra")],
            ..SymbolizerConfig::default()
        };
        let query = DebugQuery {
            build_id: Some(&[0xab, 0x12, 0xcd]),
            debuglink: Some((OsStr::new("libfoo.debug"), 7)),
            path: Path::new("/usr/lib/libfoo.so"),
            root: Path::new("/proc/4100/root"),
        };
        let found: Vec<String> =
            candidates(&query, &config).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            found,
            [
                "/proc/4100/root/usr/lib/debug/.build-id/ab/12cd.debug",
                "/proc/4100/root/usr/lib/libfoo.debug",
                "/proc/4100/root/usr/lib/.debug/libfoo.debug",
                "/proc/4100/root/usr/lib/debug/usr/lib/libfoo.debug",
                "/extra/.build-id/ab/12cd.debug",
                "/extra/libfoo.debug",
                "/extra/usr/lib/libfoo.debug",
                "/extra/ab12cd.debug",
                "/extra/usr/lib/libfoo.so/ab12cd/debug",
            ]
        );
    }

    /// `..` in a mapping path cannot climb out of the root.
    #[test]
    fn parent_components_do_not_leave_the_base() {
        assert_eq!(under(Path::new("/r"), Path::new("/../../etc/x")), Path::new("/r/etc/x"));
        assert_eq!(under(Path::new("/r"), Path::new("/a/../b")), Path::new("/r/b"));
    }
}
