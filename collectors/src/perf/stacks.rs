//! From a sample's raw callchain to the frames of its stack, root first.

use firebox_model::{Frame, FrameKind};
use firebox_symbolizer::{ProcessView, Source, Symbolized, Symbolizer};

use super::procs::ProcessTable;

/// Callchain values at or above this are context markers, not addresses.
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;
const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;
const PERF_CONTEXT_USER: u64 = -512i64 as u64;

/// The kernel's default `kernel.perf_event_max_stack`: a callchain this long
/// was cut, and its root frames are missing.
pub(crate) const MAX_STACK: usize = 127;

/// The addresses of one callchain, split by where they ran, leaf first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Callchain {
    pub(crate) kernel: Vec<u64>,
    pub(crate) user: Vec<u64>,
    pub(crate) truncated: bool,
}

impl Callchain {
    pub(crate) fn parse(raw: &[u64]) -> Self {
        let mut chain = Callchain::default();
        let mut in_kernel = false;
        let mut addresses = 0;
        for &value in raw {
            if value >= PERF_CONTEXT_MAX {
                in_kernel = value == PERF_CONTEXT_KERNEL;
                if value != PERF_CONTEXT_USER && value != PERF_CONTEXT_KERNEL {
                    // Hypervisor or guest context: nothing firebox resolves.
                    in_kernel = false;
                }
                continue;
            }
            addresses += 1;
            if in_kernel {
                chain.kernel.push(value);
            } else {
                chain.user.push(value);
            }
        }
        chain.truncated = addresses >= MAX_STACK;
        chain
    }
}

/// Counts of frames by how they were named.
#[derive(Clone, Debug, Default)]
pub(crate) struct FrameCounts {
    pub(crate) total: u64,
    pub(crate) symbolized: u64,
}

/// Names of the functions a thread's stack starts in: a stack unwound down
/// to one of them is whole. Go's goroutines start in `runtime.goexit`, its
/// threads' own stacks in `runtime.mstart` or `runtime.rt0_go`; Go 1.17 on
/// names their assembly versions with an `.abi0` suffix.
const ENTRY_POINTS: &[&str] = &[
    "_start",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "runtime.goexit",
    "runtime.goexit.abi0",
    "runtime.mstart",
    "runtime.mstart.abi0",
    "runtime.rt0_go",
    "runtime.rt0_go.abi0",
];

/// Whether a stack whose root-most user frame is `frame` reached its
/// thread's entry point.
pub(crate) fn is_entry_point(frame: &Frame) -> bool {
    ENTRY_POINTS.contains(&frame.name.as_str())
}

/// Resolves the callchain of a sample of `pid` into frames, root first,
/// without the process and thread roots. Also says whether the user stack
/// reached its thread's entry point.
pub(crate) fn resolve(
    chain: &Callchain,
    pid: u32,
    procs: &mut ProcessTable,
    symbolizer: &mut Symbolizer,
    counts: &mut FrameCounts,
) -> (Vec<Frame>, bool) {
    let view = super::procs::view(pid, procs.get(pid));
    let mut frames = Vec::with_capacity(chain.user.len() + chain.kernel.len() + 1);
    if chain.truncated {
        frames.push(Frame::new("[truncated]", FrameKind::Marker));
    }

    // Every address but the leaf is a return address: look up the call
    // instruction just before it, or a call at a function's end would be
    // named after the next function.
    let lookup = |i: usize, addr: u64| if i == 0 { addr } else { addr.saturating_sub(1) };

    // The user leaf is where the thread stopped: the instruction after a
    // system call, or the one that faulted or was interrupted, named as it
    // is (one byte back would name a function that starts there after the
    // one before it).
    let user_root = frames.len();
    let mut user: Vec<Symbolized> = chain
        .user
        .iter()
        .enumerate()
        .map(|(i, &addr)| user_frame(&view, lookup(i, addr), procs, symbolizer))
        .collect();
    // A frame-pointer walk may run on past the thread's entry point, through
    // a frame pointer nobody zeroed (Go's threads): the stack ends there.
    // Not at the leaf: a thread that starts another is in `clone3` too,
    // with its own callers below.
    let is_entry = |s: &Symbolized| s.frames.iter().any(is_entry_point);
    if let Some(entry) = user.iter().skip(1).position(is_entry).map(|i| i + 1) {
        let end = entry + user[entry..].iter().take_while(|s| is_entry(s)).count();
        user.truncate(end);
    }
    for symbolized in user.into_iter().rev() {
        push(&mut frames, symbolized, counts);
    }
    let whole = frames.get(user_root).is_some_and(is_entry_point);
    for (i, &addr) in chain.kernel.iter().enumerate().rev() {
        let symbolized = symbolizer.kernel(lookup(i, addr));
        push(&mut frames, symbolized, counts);
    }
    (frames, whole)
}

fn user_frame(
    view: &ProcessView,
    addr: u64,
    procs: &mut ProcessTable,
    symbolizer: &mut Symbolizer,
) -> Symbolized {
    let pid = view.pid;
    if procs.get(pid).is_none_or(|p| p.mapping(addr).is_none() && !p.maps_read) {
        // No mmap record covered it (the mapping predates the recording):
        // the process's own table in /proc knows.
        procs.load_from_proc(pid);
    }
    match procs.get(pid).and_then(|p| p.mapping(addr)) {
        Some(mapping) => symbolizer.user(view, mapping, addr),
        // Code in no mapping at all may still be a JIT's, named in its map.
        None => symbolizer.unmapped(view, addr),
    }
}

fn push(frames: &mut Vec<Frame>, symbolized: Symbolized, counts: &mut FrameCounts) {
    counts.total += 1;
    if symbolized.source != Source::Unresolved {
        counts.symbolized += 1;
    }
    frames.extend(symbolized.frames);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callchain_splits_at_context_markers() {
        let raw = [PERF_CONTEXT_KERNEL, 0xffff1, 0xffff2, PERF_CONTEXT_USER, 0x401000, 0x400800];
        let chain = Callchain::parse(&raw);
        assert_eq!(
            chain,
            Callchain {
                kernel: vec![0xffff1, 0xffff2],
                user: vec![0x401000, 0x400800],
                truncated: false
            }
        );
    }

    #[test]
    fn a_callchain_at_the_kernel_limit_is_truncated() {
        let mut raw = vec![PERF_CONTEXT_USER];
        raw.extend(0..MAX_STACK as u64);
        assert!(Callchain::parse(&raw).truncated);
        assert!(!Callchain::parse(&raw[..raw.len() - 1]).truncated);
    }
}
