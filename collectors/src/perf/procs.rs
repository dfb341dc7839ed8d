//! What the sampler knows of each process: its name, its threads' names and
//! its executable mappings over time.

use std::collections::HashMap;
use std::path::PathBuf;

use firebox_symbolizer::Mapping;

/// One process as the sampler tracks it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Process {
    /// The name of its main thread (`comm`).
    pub(crate) name: String,
    /// Thread names by tid.
    pub(crate) threads: HashMap<u32, String>,
    /// Executable mappings, sorted by start address, not overlapping.
    mappings: Vec<Mapping>,
    /// Whether `/proc/PID/maps` was read already for addresses no mmap
    /// record covered.
    pub(crate) maps_read: bool,
    /// Bumped whenever the mappings change, so derived state (unwind
    /// tables) knows to rebuild.
    pub(crate) generation: u64,
    /// Where its files are seen from, when not `/proc/PID/root`: a live
    /// thread's root once the main thread has exited.
    pub(crate) root: Option<std::path::PathBuf>,
}

impl Process {
    /// The mapping holding `addr`.
    pub(crate) fn mapping(&self, addr: u64) -> Option<&Mapping> {
        let i = self.mappings.partition_point(|m| m.start <= addr);
        let m = self.mappings.get(i.checked_sub(1)?)?;
        (addr < m.end).then_some(m)
    }

    /// Every executable mapping, by start address.
    pub(crate) fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// Adds a mapping, cutting away whatever older ones it overlaps.
    pub(crate) fn map(&mut self, new: Mapping) {
        self.generation += 1;
        let mut kept = Vec::with_capacity(self.mappings.len() + 2);
        for m in self.mappings.drain(..) {
            if m.end <= new.start || m.start >= new.end {
                kept.push(m);
                continue;
            }
            if m.start < new.start {
                kept.push(Mapping { end: new.start, ..m.clone() });
            }
            if m.end > new.end {
                let cut = new.end - m.start;
                kept.push(Mapping { start: new.end, file_offset: m.file_offset + cut, ..m });
            }
        }
        let at = kept.partition_point(|m| m.start < new.start);
        kept.insert(at, new);
        self.mappings = kept;
    }

    /// Forgets every mapping (the process called `exec`).
    pub(crate) fn clear_mappings(&mut self) {
        self.generation += 1;
        self.mappings.clear();
        self.maps_read = false;
    }
}

/// Every process seen during a recording, by pid.
#[derive(Debug, Default)]
pub(crate) struct ProcessTable {
    procs: HashMap<u32, Process>,
}

impl ProcessTable {
    pub(crate) fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    pub(crate) fn entry(&mut self, pid: u32) -> &mut Process {
        self.procs.entry(pid).or_insert_with(|| Process {
            name: read_comm(pid, pid).unwrap_or_else(|| format!("[pid {pid}]")),
            ..Process::default()
        })
    }

    /// Once the main thread of `pid` has exited, its files are reached
    /// through a thread that lives on, if one does. Checked before each
    /// sample is unwound and named: one `readlink` while all is well.
    pub(crate) fn check_root(&mut self, pid: u32) {
        if let Some(process) = self.procs.get_mut(&pid).filter(|p| p.root.is_none()) {
            if std::fs::read_link(format!("/proc/{pid}/root")).is_err() {
                process.root = live_thread_root(pid);
            }
        }
    }

    /// A forked child starts with a copy of its parent.
    pub(crate) fn fork(&mut self, parent: u32, child: u32) {
        let copy = self.procs.get(&parent).cloned().unwrap_or_default();
        self.procs.insert(child, Process { threads: HashMap::new(), root: None, ..copy });
    }

    /// Reads the current mappings and thread names of a live process from
    /// `/proc`, for processes that were running before the recording began.
    pub(crate) fn load_from_proc(&mut self, pid: u32) {
        let process = self.entry(pid);
        process.maps_read = true;
        // A main thread that exited while the others work on is a zombie
        // with no maps of its own: the live threads' are the process's.
        let tids = list_threads(pid);
        let maps = std::iter::once(format!("/proc/{pid}/maps"))
            .chain(tids.iter().map(|tid| format!("/proc/{pid}/task/{tid}/maps")))
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .find(|text| !text.is_empty());
        for mapping in maps.iter().flat_map(|text| parse_maps(text)) {
            process.map(mapping);
        }
        if std::fs::read_link(format!("/proc/{pid}/root")).is_err() {
            process.root = live_thread_root(pid);
        }
        for tid in tids {
            if let Some(name) = read_comm(pid, tid) {
                process.threads.insert(tid, name);
            }
        }
    }
}

/// The root of a live thread of `pid`, for when its main thread has exited
/// and `/proc/PID/root` no longer leads anywhere.
fn live_thread_root(pid: u32) -> Option<std::path::PathBuf> {
    list_threads(pid)
        .into_iter()
        .map(|tid| std::path::PathBuf::from(format!("/proc/{pid}/task/{tid}/root")))
        .find(|root| std::fs::read_link(root).is_ok())
}

/// The tids of a process, from `/proc/PID/task` (none once it is gone).
pub(crate) fn list_threads(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// How the symbolizer and the unwinder see the files of `pid`.
pub(crate) fn view(pid: u32, process: Option<&Process>) -> firebox_symbolizer::ProcessView {
    match process.and_then(|p| p.root.clone()) {
        Some(root) => firebox_symbolizer::ProcessView { pid, root },
        None => firebox_symbolizer::ProcessView::of_pid(pid),
    }
}

/// The `comm` of thread `tid` of process `pid`, if it is alive.
pub(crate) fn read_comm(pid: u32, tid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
    Some(text.trim_end_matches('\n').to_string())
}

/// The executable mappings listed in the text of `/proc/PID/maps`.
pub(crate) fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    for line in text.lines() {
        // start-end perms offset dev inode path (the path may hold spaces)
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(offset), Some(_dev), Some(_inode)) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !perms.contains('x') {
            continue;
        }
        let path = fields.next().unwrap_or("").trim_start();
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end), Ok(file_offset)) = (
            u64::from_str_radix(start, 16),
            u64::from_str_radix(end, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        let path = if path.is_empty() { "//anon" } else { path };
        out.push(Mapping { start, end, file_offset, path: PathBuf::from(path), build_id: None });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(start: u64, end: u64, off: u64, path: &str) -> Mapping {
        Mapping { start, end, file_offset: off, path: path.into(), build_id: None }
    }

    #[test]
    fn maps_lines_with_spaces_in_paths_parse() {
        let text = "\
55d0c0000000-55d0c0100000 r-xp 00001000 08:01 1234 /opt/My App/bin/dlna
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
7ffd1000000-7ffd1002000 r-xp 00000000 00:00 0 [vdso]
";
        let maps = parse_maps(text);
        assert_eq!(
            maps,
            [
                mapping(0x55d0c0000000, 0x55d0c0100000, 0x1000, "/opt/My App/bin/dlna"),
                mapping(0x7ffd1000000, 0x7ffd1002000, 0, "[vdso]"),
            ]
        );
    }

    #[test]
    fn a_new_mapping_cuts_what_it_overlaps() {
        let mut p = Process::default();
        p.map(mapping(0x1000, 0x5000, 0, "a"));
        p.map(mapping(0x2000, 0x3000, 0, "b"));
        assert_eq!(p.mapping(0x1800).map(|m| m.path.clone()), Some("a".into()));
        assert_eq!(p.mapping(0x2800).map(|m| m.path.clone()), Some("b".into()));
        let tail = p.mapping(0x4000).cloned();
        assert_eq!(tail, Some(mapping(0x3000, 0x5000, 0x2000, "a")));
        assert!(p.mapping(0x5000).is_none());
        assert!(p.mapping(0x0fff).is_none());
    }
}
