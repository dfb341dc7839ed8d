//! JIT perf maps: `/tmp/perf-PID.map` in the process's own filesystem, one
//! `START SIZE name` line (hex, with or without `0x`) per compiled function.
//!
//! Read by hand because the file must be found through the process's root
//! and under its namespace pid, which blazesym's perf-map source does not
//! do. JITs append to the file as they compile, so a map is read on from
//! where it was left whenever the file has grown; a line that covers code
//! an earlier line covered wins, because JITs reuse freed code space.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Error;

/// The functions of one perf map, by address range.
#[derive(Debug)]
pub struct PerfMap {
    path: PathBuf,
    /// Bytes read so far, up to the end of the last complete line.
    consumed: u64,
    /// Non-overlapping ranges: start to (end, name).
    ranges: BTreeMap<u64, (u64, String)>,
    bad_lines: usize,
}

impl PerfMap {
    /// An empty map that reads `path` on [`PerfMap::refresh`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PerfMap { path: path.into(), consumed: 0, ranges: BTreeMap::new(), bad_lines: 0 }
    }

    /// The file this map is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many lines could not be read as `START SIZE name`.
    pub fn bad_lines(&self) -> usize {
        self.bad_lines
    }

    /// Reads what was appended to the file since the last call; starts over
    /// when the file shrank (it was replaced).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or read.
    pub fn refresh(&mut self) -> Result<(), Error> {
        let path = self.path.clone();
        let io = |e| Error::io(&path, e);
        let mut file = File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < self.consumed {
            *self = PerfMap::new(path.clone());
        }
        if len == self.consumed {
            return Ok(());
        }

        file.seek(SeekFrom::Start(self.consumed)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(len - self.consumed).read_to_end(&mut bytes).map_err(io)?;
        // A JIT may be in the middle of writing the last line.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
        self.consumed += complete as u64;
        self.add_lines(&String::from_utf8_lossy(&bytes[..complete]));
        Ok(())
    }

    /// Adds the entries of perf map `text`, later lines over earlier ones.
    pub fn add_lines(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match parse_line(line) {
                Some((start, size, name)) => self.insert(start, start.saturating_add(size), name),
                None => self.bad_lines += 1,
            }
        }
    }

    /// The name of the function that holds `addr`.
    pub fn find(&self, addr: u64) -> Option<&str> {
        let (_, (end, name)) = self.ranges.range(..=addr).next_back()?;
        (addr < *end).then_some(name.as_str())
    }

    /// Inserts `[start, end)`, cutting away what older ranges it overlaps.
    fn insert(&mut self, start: u64, end: u64, name: &str) {
        if end <= start {
            return;
        }
        // An older range that begins before `start` keeps its head and,
        // when it reaches past `end`, its tail.
        if let Some((&before, &(before_end, _))) = self.ranges.range(..start).next_back() {
            if before_end > start {
                let (_, old_name) = self.ranges.remove(&before).unwrap_or_default();
                if before_end > end {
                    self.ranges.insert(end, (before_end, old_name.clone()));
                }
                self.ranges.insert(before, (start, old_name));
            }
        }
        // Older ranges that begin inside the new one lose their head.
        let inside: Vec<u64> = self.ranges.range(start..end).map(|(&s, _)| s).collect();
        for old in inside {
            if let Some((old_end, old_name)) = self.ranges.remove(&old) {
                if old_end > end {
                    self.ranges.insert(end, (old_end, old_name));
                }
            }
        }
        self.ranges.insert(start, (end, name.to_string()));
    }
}

/// `START SIZE name`, the numbers hex with or without `0x`; the name may hold
/// spaces.
fn parse_line(line: &str) -> Option<(u64, u64, &str)> {
    let line = line.trim_start();
    let (start, rest) = line.split_once(char::is_whitespace)?;
    let (size, name) = rest.trim_start().split_once(char::is_whitespace)?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some((parse_hex(start)?, parse_hex(size)?, name))
}

fn parse_hex(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    u64::from_str_radix(digits, 16).ok()
}

/// The pid of `pid` inside its own pid namespace: the last field of the
/// `NSpid:` line of `/proc/PID/status`, or `pid` itself when the kernel has
/// no such line.
pub fn namespace_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    match status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
        Some(ids) => ids.split_ascii_whitespace().last()?.parse().ok(),
        None => Some(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both number styles parse and names keep their spaces.
    #[test]
    fn lines_with_and_without_0x() {
        let mut map = PerfMap::new("/nonexistent");
        map.add_lines("0x7f0000001000 0x40 LazyCompile:~body evalmachine.<anonymous>:1\n7f0000002000 20 Interpreter\nnot a line\n");
        assert_eq!(map.find(0x7f000000103f), Some("LazyCompile:~body evalmachine.<anonymous>:1"));
        assert_eq!(map.find(0x7f0000001040), None);
        assert_eq!(map.find(0x7f0000002010), Some("Interpreter"));
        assert_eq!(map.bad_lines(), 1);
    }

    /// A later entry over reused code wins; the untouched parts of the older
    /// entry stay.
    #[test]
    fn later_entries_win_over_reused_code() {
        let mut map = PerfMap::new("/nonexistent");
        map.add_lines("1000 100 old\n1040 10 new\n");
        assert_eq!(map.find(0x103f), Some("old"));
        assert_eq!(map.find(0x1045), Some("new"));
        assert_eq!(map.find(0x1050), Some("old"));
        map.add_lines("f00 148 newest\n");
        assert_eq!(map.find(0x1045), Some("newest"));
        assert_eq!(map.find(0x1049), Some("new"));
        assert_eq!(map.find(0x10ff), Some("old"));
        assert_eq!(map.find(0x1100), None);
    }

    /// The namespace pid is the last `NSpid:` field: for this process, the
    /// pid it sees for itself through `/proc/self`.
    #[test]
    fn namespace_pid_is_the_innermost() {
        let own: u32 = std::fs::read_link("/proc/self").unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(namespace_pid(std::process::id()), Some(own));
        assert_eq!(namespace_pid(u32::MAX), None);
    }
}
