//! Records read from the ring buffers, copied out into owned events so the
//! ring space can go back to the kernel at once.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use firebox_symbolizer::Mapping;
use perf_event::data::Record;

use super::open::Stacks;
use super::unwind::UserRegs;

/// `PERF_RECORD_MISC_COMM_EXEC`: this comm change comes from an `exec`.
const MISC_COMM_EXEC: u16 = 1 << 13;

/// What happened, in the order the kernel says it did.
#[derive(Debug)]
pub(crate) enum Event {
    /// A sample: the callchain leaf first, with context markers in it.
    Sample {
        pid: u32,
        tid: u32,
        time: u64,
        callchain: Vec<u64>,
        /// User registers and the copy of the user stack, for unwinding.
        user: Option<(UserRegs, Vec<u8>)>,
        /// What the events of its ring carry (set from the ring it came
        /// from).
        stacks: Stacks,
    },
    /// An executable mapping appeared.
    Mmap { pid: u32, time: u64, mapping: Mapping },
    /// A thread was (re)named, or its process called `exec`.
    Comm { pid: u32, tid: u32, time: u64, name: String, exec: bool },
    /// A process or thread was created.
    Fork { pid: u32, ppid: u32, tid: u32, ptid: u32, time: u64 },
    /// A process or thread ended.
    Exit { pid: u32, tid: u32, time: u64 },
    /// The kernel dropped records because the ring buffer was full.
    Lost { count: u64, time: u64 },
}

impl Event {
    /// When it happened, in CLOCK_MONOTONIC nanoseconds.
    pub(crate) fn time(&self) -> u64 {
        match *self {
            Event::Sample { time, .. }
            | Event::Mmap { time, .. }
            | Event::Comm { time, .. }
            | Event::Fork { time, .. }
            | Event::Exit { time, .. }
            | Event::Lost { time, .. } => time,
        }
    }

    /// The process it is about, when it names one.
    pub(crate) fn pid(&self) -> Option<u32> {
        match *self {
            Event::Sample { pid, .. }
            | Event::Mmap { pid, .. }
            | Event::Comm { pid, .. }
            | Event::Fork { pid, .. } => Some(pid),
            Event::Exit { .. } | Event::Lost { .. } => None,
        }
    }
}

/// Turns one ring buffer record into an event; `None` for records the
/// sampler has no use for. `raw` is the record body (after the header),
/// whose trailing `sample_id` block holds the time of non-sample records.
pub(crate) fn from_record(record: Record<'_>, misc: u16, raw: &[u8]) -> Option<Event> {
    let trailer_time = || sample_id_time(raw);
    let event = match record {
        Record::Sample(sample) => Event::Sample {
            pid: sample.pid()?,
            tid: sample.tid()?,
            time: sample.time()?,
            callchain: sample.callchain()?.to_vec(),
            user: sample.regs_user().and_then(|regs| {
                let regs = UserRegs::from_sampled(regs.mask, &regs.regs)?;
                Some((regs, sample.stack_user()?.to_vec()))
            }),
            stacks: Stacks::FramePointers,
        },
        Record::Mmap2(mmap) => Event::Mmap {
            pid: mmap.pid,
            time: trailer_time()?,
            mapping: mapping(mmap.addr, mmap.len, mmap.pgoff, &mmap.filename, mmap.build_id()),
        },
        Record::Mmap(mmap) => Event::Mmap {
            pid: mmap.pid,
            time: trailer_time()?,
            mapping: mapping(mmap.addr, mmap.len, mmap.pgoff, &mmap.filename, None),
        },
        Record::Comm(comm) => Event::Comm {
            pid: comm.pid,
            tid: comm.tid,
            time: trailer_time()?,
            name: String::from_utf8_lossy(&comm.comm).into_owned(),
            exec: misc & MISC_COMM_EXEC != 0,
        },
        Record::Fork(fork) => {
            let (pid, ppid, tid, ptid, time) =
                (fork.pid, fork.ppid, fork.tid, fork.ptid, fork.time);
            Event::Fork { pid, ppid, tid, ptid, time }
        }
        Record::Exit(exit) => Event::Exit { pid: exit.pid, tid: exit.tid, time: exit.time },
        Record::Lost(lost) => Event::Lost { count: lost.lost, time: trailer_time().unwrap_or(0) },
        Record::LostSamples(lost) => {
            Event::Lost { count: lost.lost, time: trailer_time().unwrap_or(0) }
        }
        _ => return None,
    };
    Some(event)
}

fn mapping(addr: u64, len: u64, pgoff: u64, filename: &[u8], build_id: Option<&[u8]>) -> Mapping {
    Mapping {
        start: addr,
        end: addr.saturating_add(len),
        file_offset: pgoff,
        path: PathBuf::from(std::ffi::OsStr::from_bytes(filename)),
        build_id: build_id.filter(|id| !id.is_empty()).map(<[u8]>::to_vec),
    }
}

/// The time field of the `sample_id` block at the end of a non-sample
/// record. The events sample TID, TIME and CPU, so the block is
/// `{ pid, tid: u32; time: u64; cpu, res: u32 }`: time sits 16 bytes before
/// the end.
fn sample_id_time(raw: &[u8]) -> Option<u64> {
    let at = raw.len().checked_sub(16)?;
    Some(u64::from_ne_bytes(raw.get(at..at + 8)?.try_into().ok()?))
}
