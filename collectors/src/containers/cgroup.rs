//! The cgroup a process runs in, as the directory a perf event in cgroup mode
//! is opened on.
//!
//! perf events follow the `perf_event` controller. On a cgroup v2 host, and on
//! a hybrid host where no v1 hierarchy carries `perf_event`, that is the
//! unified hierarchy (the `0::` line of `/proc/PID/cgroup`); on a v1 host it
//! is the hierarchy mounted with the `perf_event` option.

use std::io;
use std::path::{Path, PathBuf};

/// A mounted cgroup hierarchy.
#[derive(Debug, PartialEq, Eq)]
struct Hierarchy {
    /// Where it is mounted.
    mount_point: PathBuf,
    /// The cgroup shown at the mount point (`/` unless mounted from inside a
    /// cgroup namespace).
    root: String,
    /// A v1 hierarchy carrying `perf_event`; `false` for the unified one.
    v1_perf_event: bool,
}

/// The directory of the cgroup that holds `pid` in the hierarchy perf
/// events follow.
///
/// # Errors
///
/// When `/proc/PID/cgroup` or `/proc/self/mountinfo` cannot be read, or no
/// hierarchy that perf events follow is mounted.
pub fn perf_cgroup_dir(pid: u32) -> io::Result<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let perf_on_v1 = perf_event_on_v1()?;
    resolve(&mountinfo, &cgroups, perf_on_v1).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no mounted cgroup hierarchy carries the perf_event controller",
        )
    })
}

/// Whether `perf_event` is bound to a v1 hierarchy (`/proc/cgroups` gives it
/// a non-zero hierarchy id).
fn perf_event_on_v1() -> io::Result<bool> {
    let text = match std::fs::read_to_string("/proc/cgroups") {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(text.lines().any(|line| {
        let mut fields = line.split_whitespace();
        fields.next() == Some("perf_event") && fields.next().is_some_and(|h| h != "0")
    }))
}

fn resolve(mountinfo: &str, cgroups: &str, perf_on_v1: bool) -> Option<PathBuf> {
    let hierarchy = mounts(mountinfo).into_iter().find(|h| h.v1_perf_event == perf_on_v1)?;
    let path = cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let wanted = if perf_on_v1 {
            controllers.split(',').any(|c| c == "perf_event")
        } else {
            controllers.is_empty()
        };
        wanted.then_some(path)
    })?;
    let relative = path.strip_prefix(hierarchy.root.trim_end_matches('/')).unwrap_or(path);
    Some(join(&hierarchy.mount_point, relative))
}

fn join(mount_point: &Path, relative: &str) -> PathBuf {
    let mut out = mount_point.to_path_buf();
    out.extend(relative.split('/').filter(|p| !p.is_empty()));
    out
}

/// The cgroup mounts of a `/proc/self/mountinfo` text.
fn mounts(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let (root, mount_point) = (fields.get(3)?, fields.get(4)?);
            let mut after = after.split(' ');
            let fstype = after.next()?;
            let super_options = after.nth(1).unwrap_or("");
            let v1_perf_event = match fstype {
                "cgroup2" => false,
                "cgroup" if super_options.split(',').any(|o| o == "perf_event") => true,
                _ => return None,
            };
            Some(Hierarchy {
                mount_point: PathBuf::from(unescape(mount_point)),
                root: unescape(root),
                v1_perf_event,
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(value)) => {
                out.push(value);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every pid in the cgroup at `dir` and in the cgroups below it; empty when
/// the cgroup is gone.
pub fn pids_in(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(here) = pending.pop() {
        if let Ok(text) = std::fs::read_to_string(here.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&here) {
            pending.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/perf_event rw,relatime - cgroup cgroup rw,perf_event
";
    const CGROUPS: &str = "\
9:perf_event:/docker/abc
1:cpu:/docker/abc
0::/docker/abc
";

    /// On a hybrid host the unified hierarchy is used unless perf_event sits
    /// on a v1 hierarchy.
    #[test]
    fn hierarchy_follows_perf_event() {
        assert_eq!(
            resolve(HYBRID, CGROUPS, false),
            Some(PathBuf::from("/sys/fs/cgroup/unified/docker/abc"))
        );
        assert_eq!(
            resolve(HYBRID, CGROUPS, true),
            Some(PathBuf::from("/sys/fs/cgroup/perf_event/docker/abc"))
        );
    }

    /// A pure v2 host, with the hierarchy mounted from a cgroup namespace
    /// root and a space escaped in the mount point.
    #[test]
    fn v2_with_namespace_root() {
        let mountinfo = "40 1 0:30 /machine /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            resolve(mountinfo, "0::/machine/docker/abc\n", false),
            Some(PathBuf::from("/sys/fs/my cgroup/docker/abc"))
        );
        assert_eq!(resolve("", "0::/x\n", false), None);
    }
}
