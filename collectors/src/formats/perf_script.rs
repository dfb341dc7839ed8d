//! The text `perf script` prints: per sample a header line (`comm pid/tid
//! [cpu] time: period event:`) and the callchain, leaf first, one frame a
//! line (`addr symbol+0xoff (dso)`), samples separated by blank lines.
//!
//! Read as `stackcollapse-perf` reads it, with these rules:
//!
//! - The comm is everything before the pid field, spaces included; the
//!   module is the last parenthesised group of a frame line, spaces
//!   included.
//! - Symbols are tidied: a trailing `+0x<hex>` offset, a Rust `::h<hash>`
//!   suffix and argument lists at bracket depth 0 are removed (`(anonymous
//!   namespace)`, lambdas, templates and Go's `.(*T)` are never cut). An
//!   unknown symbol is `[module]` when the module is known, else
//!   `[unknown]`.
//! - Frames in `[kernel.kallsyms]`, a `vmlinux` or at kernel addresses are
//!   [`FrameKind::Kernel`]; frames in a perf map (`/tmp/perf-PID.map`) or a
//!   `[JIT ...]` module are [`FrameKind::Jit`].
//! - A header may carry its only frame on the same line (`perf script -F
//!   ...,ip,sym,dso`), and the last sample counts without a final newline.
//! - Only the first event seen is kept unless [`Options::event`] or
//!   [`Options::all_events`] say otherwise; skipped samples are reported per
//!   event in one warning.
//! - Weights are the sample period by default ([`Weight`]), as the reference
//!   collapsers do; the profile's unit then names the event (`nanoseconds`
//!   for `cpu-clock` and `task-clock`).
//! - Lines that fit nothing (a frame line without an address, frames with no
//!   header, a blank line between a header and its frames) are warnings,
//!   counted once.

use std::collections::BTreeMap;
use std::io::Read;

use firebox_model::{Frame, FrameDetail, FrameId, FrameKind, Profile};

use crate::error::Error;
use crate::formats::{read_all, text};

mod symbol;

pub(crate) use self::symbol::tidy_symbol;

/// What a sample weighs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weight {
    /// The sample's period (event count since the last sample); 1 when the
    /// header has none.
    #[default]
    Period,
    /// One per sample.
    Count,
}

/// Settings of the perf script reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What a sample weighs.
    pub weight: Weight,
    /// Keep only samples of this event (`cycles`, `cpu-clock`); modifiers
    /// such as `:u` are ignored when matching.
    pub event: Option<String>,
    /// Keep samples of every event.
    pub all_events: bool,
    /// Root frame `comm-pid` instead of `comm`.
    pub include_pid: bool,
    /// Root frame `comm-pid/tid` instead of `comm`.
    pub include_tid: bool,
    /// Keep `+0x` offsets in symbols.
    pub keep_offsets: bool,
}

/// Reads `perf script` output from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails; malformed lines are warnings, never
/// errors.
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads `perf script` output held in memory; see [`from_reader`].
///
/// # Errors
///
/// None today; the signature matches the other readers.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let text = text::decode(bytes);
    let mut collapser = Collapser::new(options);
    for (index, line) in text.lines().enumerate() {
        collapser.line(line, index + 1);
    }
    collapser.finish()
}

/// A sample header.
#[derive(Debug, PartialEq)]
pub(crate) struct Header<'a> {
    pub comm: &'a str,
    pub pid: &'a str,
    pub tid: Option<&'a str>,
    pub period: Option<u64>,
    pub event: &'a str,
    /// The text after the event, holding a frame for single-line stacks.
    pub rest: &'a str,
}

/// A frame line.
#[derive(Debug, PartialEq)]
pub(crate) struct FrameLine<'a> {
    pub addr: u64,
    pub symbol: &'a str,
    pub module: &'a str,
}

struct Pending {
    root: String,
    weight: u64,
    /// Leaf first, as perf prints them.
    frames: Vec<FrameId>,
    kept: bool,
}

#[derive(Default)]
struct Counts {
    lines: usize,
    first: Option<usize>,
}

impl Counts {
    fn note(&mut self, line: usize) {
        self.lines += 1;
        self.first.get_or_insert(line);
    }
}

struct Collapser<'o> {
    options: &'o Options,
    profile: Profile,
    current: Option<Pending>,
    /// The record just closed by a blank line while it had no frames.
    frameless: Option<Pending>,
    event: Option<String>,
    skipped_events: BTreeMap<String, usize>,
    periods: BTreeMap<u64, usize>,
    weird: Counts,
    orphans: Counts,
    gaps: Counts,
    frame_ids: std::collections::HashMap<(String, FrameKind), FrameId>,
}

impl<'o> Collapser<'o> {
    fn new(options: &'o Options) -> Self {
        Collapser {
            options,
            profile: Profile::default(),
            current: None,
            frameless: None,
            event: options.event.as_deref().map(event_key).map(String::from),
            skipped_events: BTreeMap::new(),
            periods: BTreeMap::new(),
            weird: Counts::default(),
            orphans: Counts::default(),
            gaps: Counts::default(),
            frame_ids: std::collections::HashMap::new(),
        }
    }

    fn line(&mut self, line: &str, number: usize) {
        if line.trim().is_empty() {
            if let Some(record) = self.current.take() {
                if record.frames.is_empty() {
                    self.frameless = Some(record);
                } else {
                    self.flush(record);
                }
            }
            return;
        }
        if line.trim_start().starts_with('#') {
            return;
        }
        if let Some(header) = parse_header(line) {
            self.header(&header);
            return;
        }
        if !line.starts_with([' ', '\t']) {
            self.weird.note(number);
            return;
        }
        if self.current.is_none() {
            // A blank line between a header and its frames: the frames
            // still belong to that header.
            match self.frameless.take() {
                Some(record) => {
                    self.gaps.note(number);
                    self.current = Some(record);
                }
                None => {
                    self.orphans.note(number);
                    return;
                }
            }
        }
        match parse_frame_line(line) {
            Some(frame) => self.push_frame(&frame),
            None => self.weird.note(number),
        }
    }

    fn header(&mut self, header: &Header<'_>) {
        if let Some(record) = self.current.take() {
            self.flush(record);
        }
        if let Some(record) = self.frameless.take() {
            self.flush(record);
        }

        let key = event_key(header.event);
        let kept = match &self.event {
            _ if self.options.all_events => true,
            Some(wanted) => wanted == key,
            None => {
                self.event = Some(key.to_string());
                true
            }
        };
        if kept {
            self.profile.meta.sample_type = key.to_string();
            if let Some(period) = header.period {
                *self.periods.entry(period).or_default() += 1;
            }
        } else {
            *self.skipped_events.entry(key.to_string()).or_default() += 1;
        }

        let root = match (self.options.include_tid, self.options.include_pid, header.tid) {
            (true, _, Some(tid)) => format!("{}-{}/{tid}", header.comm, header.pid),
            (true, _, None) | (false, true, _) => format!("{}-{}", header.comm, header.pid),
            (false, false, _) => header.comm.to_string(),
        };
        let weight = match self.options.weight {
            Weight::Period => header.period.unwrap_or(1),
            Weight::Count => 1,
        };
        self.current = Some(Pending { root, weight, frames: Vec::new(), kept });
        if let Some(frame) = single_line_frame(header.rest) {
            self.push_frame(&frame);
        }
    }

    fn push_frame(&mut self, line: &FrameLine<'_>) {
        let Some(record) = self.current.as_mut() else {
            return;
        };
        if !record.kept {
            return;
        }
        let kind = frame_kind(line);
        let name = tidy_symbol(line.symbol, line.module, self.options.keep_offsets);
        let key = (name, kind);
        let id = match self.frame_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.profile.intern(Frame::new(key.0.clone(), kind));
                if !line.module.is_empty() && !line.module.starts_with('[') {
                    let detail =
                        FrameDetail { module: Some(line.module.to_string()), ..Default::default() };
                    self.profile.set_detail(id, detail);
                }
                self.frame_ids.insert(key, id);
                id
            }
        };
        record.frames.push(id);
    }

    fn flush(&mut self, record: Pending) {
        if !record.kept {
            return;
        }
        let root = self.profile.intern(Frame::process(record.root));
        let mut stack = Vec::with_capacity(record.frames.len() + 1);
        stack.push(root);
        stack.extend(record.frames.iter().rev());
        self.profile.add(&stack, record.weight);
    }

    fn finish(mut self) -> Result<Profile, Error> {
        if let Some(record) = self.current.take() {
            self.flush(record);
        }
        if let Some(record) = self.frameless.take() {
            self.flush(record);
        }
        for (event, samples) in &self.skipped_events {
            tracing::warn!(
                event = %event,
                samples,
                kept = %self.event.as_deref().unwrap_or(""),
                "skipped samples of another event; choose the event to keep"
            );
        }
        for (counts, what) in [
            (&self.weird, "ignored lines that are neither sample headers nor frames"),
            (&self.orphans, "ignored frame lines that follow no sample header"),
            (&self.gaps, "read frames after a blank line as part of the sample above"),
        ] {
            if let Some(first) = counts.first {
                tracing::warn!(lines = counts.lines, first, "{what}");
            }
        }

        let event = self.profile.meta.sample_type.clone();
        let common_period = self.periods.iter().max_by_key(|(_, n)| **n).map(|(p, _)| *p);
        let clock = event == "cpu-clock" || event == "task-clock";
        self.profile.meta.unit = match self.options.weight {
            Weight::Count => "samples".to_string(),
            Weight::Period if clock => "nanoseconds".to_string(),
            Weight::Period => event.clone(),
        };
        if clock && self.options.weight == Weight::Count {
            self.profile.meta.period_ns = common_period;
        }
        Ok(self.profile)
    }
}

/// `cycles:u` and `cycles:ppp` are the event `cycles`; tracepoints such as
/// `sched:sched_switch` keep their full name.
pub(crate) fn event_key(event: &str) -> &str {
    match event.split_once(':') {
        Some((name, modifiers)) if modifiers.bytes().all(|b| b"ukhGHpPIDSW".contains(&b)) => name,
        _ => event,
    }
}

/// Parses a sample header, `None` when `line` is not one. The pid field is
/// the first `digits` or `digits/digits` token after the comm that is
/// followed by the cpu, time, period or event field.
pub(crate) fn parse_header(line: &str) -> Option<Header<'_>> {
    let words = words(line);
    for i in 1..words.len() {
        let (start, word) = words[i];
        let (pid, tid) = match word.split_once('/') {
            Some((pid, tid)) => (pid, Some(tid)),
            None => (word, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(pid) || !tid.is_none_or(digits) {
            continue;
        }
        let Some((at, event, period)) = event_after(&words[i + 1..]) else {
            continue;
        };
        let comm = line[..start].trim();
        let rest = line[at..].trim();
        return Some(Header { comm, pid, tid, period, event, rest });
    }
    None
}

/// After the pid: optional `[cpu]`, optional `secs.micros:`, optional
/// period, then `event:`. Returns where the text after the event starts,
/// the event and the period.
fn event_after<'a>(words: &[(usize, &'a str)]) -> Option<(usize, &'a str, Option<u64>)> {
    let mut words = words.iter().peekable();
    if words.peek().is_some_and(|(_, w)| w.starts_with('[') && w.ends_with(']')) {
        words.next();
    }
    if words.peek().is_some_and(|(_, w)| is_timestamp(w)) {
        words.next();
    }
    let mut period = None;
    if let Some((_, w)) = words.peek() {
        if let Ok(p) = w.parse::<u64>() {
            period = Some(p);
            words.next();
        }
    }
    let (start, event) = words.next()?;
    let name = event.strip_suffix(':')?;
    if name.is_empty() || !name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    Some((start + event.len(), name, period))
}

fn is_timestamp(word: &str) -> bool {
    word.strip_suffix(':').and_then(|w| w.split_once('.')).is_some_and(|(s, f)| {
        !s.is_empty() && !f.is_empty() && (s.bytes().chain(f.bytes())).all(|b| b.is_ascii_digit())
    })
}

/// Blank-separated words with their byte offsets.
fn words(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// The frame a header carries after its event, if any.
fn single_line_frame(rest: &str) -> Option<FrameLine<'_>> {
    let first = rest.split_whitespace().next()?;
    if !first.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    parse_frame_line(rest)
}

/// Parses `addr symbol (module)`; the module is the last balanced
/// parenthesised group and may hold spaces; symbol and module may be absent.
pub(crate) fn parse_frame_line(line: &str) -> Option<FrameLine<'_>> {
    let line = line.trim();
    let (addr, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let rest = rest.trim();
    let (symbol, module) = match module_start(rest) {
        Some(open) => (rest[..open].trim(), &rest[open + 1..rest.len() - 1]),
        None => (rest, ""),
    };
    Some(FrameLine { addr, symbol, module })
}

/// Where the trailing `(module)` group of `rest` opens.
fn module_start(rest: &str) -> Option<usize> {
    if !rest.ends_with(')') {
        return None;
    }
    let mut depth = 0usize;
    for (i, b) in rest.bytes().enumerate().rev() {
        match b {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return (i == 0 || rest.as_bytes()[i - 1] == b' ').then_some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn frame_kind(line: &FrameLine<'_>) -> FrameKind {
    let module = line.module;
    // `[vdso]` counts as kernel code, as both reference collapsers have it.
    if module == "[kernel.kallsyms]"
        || module.starts_with("[kernel")
        || module == "[vdso]"
        || module.contains("vmlinux")
        || module.ends_with(".ko")
        || (line.addr >= 0xffff_8000_0000_0000 && module != "[unknown]")
    {
        FrameKind::Kernel
    } else if module.starts_with("[JIT") || is_perf_map(module) {
        FrameKind::Jit
    } else {
        FrameKind::Native
    }
}

fn is_perf_map(module: &str) -> bool {
    let name = module.rsplit('/').next().unwrap_or(module);
    name.starts_with("perf-") && name.ends_with(".map")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_spaces_pids_and_cpus() {
        let h = parse_header("Plex DLNA Serve 26638/26640 [001] 856620.530720:    2654110 cycles:")
            .unwrap();
        assert_eq!(
            (h.comm, h.pid, h.tid, h.period, h.event),
            ("Plex DLNA Serve", "26638", Some("26640"), Some(2654110), "cycles")
        );
        let h = parse_header("           false 39654 19115.489713:          1 cycles:u:  ffffffff9b201293 [unknown] ([unknown])").unwrap();
        assert_eq!((h.comm, h.event), ("false", "cycles:u"));
        assert_eq!(h.rest, "ffffffff9b201293 [unknown] ([unknown])");
        let h = parse_header("node-v011 31912 cpu-clock: ").unwrap();
        assert_eq!((h.comm, h.pid, h.period), ("node-v011", "31912", None));
        assert!(parse_header("\t    401000 main (/usr/bin/app)").is_none());
    }

    #[test]
    fn frame_lines_keep_spaces_in_modules() {
        let f = parse_frame_line("   55d0c0ffee00 serve_request (/opt/My App/bin/dlna)").unwrap();
        assert_eq!((f.symbol, f.module), ("serve_request", "/opt/My App/bin/dlna"));
        let f = parse_frame_line(" 9c51fd34 java.lang.String.hashCode ([JIT app cache])").unwrap();
        assert_eq!((f.symbol, f.module), ("java.lang.String.hashCode", "[JIT app cache]"));
        let f =
            parse_frame_line(" 401300 (anonymous namespace)::helper(int) (/usr/bin/app)").unwrap();
        assert_eq!(f.symbol, "(anonymous namespace)::helper(int)");
    }

    #[test]
    fn events_ignore_modifiers() {
        assert_eq!(event_key("cycles:u"), "cycles");
        assert_eq!(event_key("cpu-clock:uhH"), "cpu-clock");
        assert_eq!(event_key("sched:sched_switch"), "sched:sched_switch");
    }
}
