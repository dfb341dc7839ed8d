//! A thread that only empties the rings.
//!
//! Unwinding and symbolizing a sample costs far more than copying it out,
//! and the first sample in a module costs most (its unwind tables and debug
//! info are read then). Done on the thread that also empties the rings, a
//! slow stretch lets the rings overflow and the kernel drops samples; on a
//! machine whose cores the target keeps busy, a few hundred milliseconds of
//! catching up is enough. So one thread copies the records out as soon as a
//! ring is a quarter full and hands them over in batches, and the recorder
//! processes them at its own pace.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use perf_event::Sampler;

use super::events::{self, Event};
use super::sys;

/// How long the thread waits for a ring to reach its watermark before it
/// empties the rings anyway.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// The same while stack copies wait on standby: the mapping that calls for
/// them is read within a tenth of a second, not a quarter.
pub(crate) const TICK_STANDBY: Duration = Duration::from_millis(50);

/// How long the thread rests after each pass: rings of threads that have
/// ended poll ready for ever, and must not turn the wait into a busy loop.
/// Even at a thousand samples a second with stack copies, the rings take
/// in a few hundred KiB meanwhile, a tenth of their size.
const REST: Duration = Duration::from_millis(20);

/// What one pass over the rings found.
pub(crate) struct Batch {
    /// CLOCK_MONOTONIC when the pass began: every record stamped up to then
    /// is in this batch or an earlier one, whichever ring it was in.
    pub(crate) drained_at: u64,
    /// Each event with the index of the ring it came from.
    pub(crate) events: Vec<(usize, Event)>,
}

/// The thread emptying the rings, and the batches it sends.
pub(crate) struct RingReader {
    batches: Receiver<Batch>,
    /// Closing it tells the thread to stop, waking it at once.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl RingReader {
    /// Starts a thread that owns `rings` and empties them until stopped,
    /// at least once every `tick`.
    pub(crate) fn start(rings: Vec<Sampler>, tick: Duration) -> std::io::Result<Self> {
        let (send, batches) = mpsc::channel();
        let (stopped, stop) = sys::pipe()?;
        let thread = std::thread::Builder::new()
            .name("firebox-rings".into())
            .spawn(move || read_until_stopped(rings, tick, &send, &stopped))?;
        Ok(RingReader { batches, stop: Some(stop), thread: Some(thread) })
    }

    /// The next batch, waiting up to `timeout` for one.
    pub(crate) fn next(&self, timeout: Duration) -> Option<Batch> {
        match self.batches.recv_timeout(timeout) {
            Ok(batch) => Some(batch),
            Err(RecvTimeoutError::Timeout) => None,
            // The thread is gone (it failed): wait all the same, or the
            // caller's loop would spin.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                None
            }
        }
    }

    /// Every batch already sent, without waiting.
    pub(crate) fn ready(&self) -> impl Iterator<Item = Batch> + '_ {
        self.batches.try_iter()
    }

    /// Disables the rings' events, empties the rings a last time and ends
    /// the thread; returns the batches not yet taken.
    pub(crate) fn stop(&mut self) -> Vec<Batch> {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the thread reading the rings failed; samples may be missing");
            }
        }
        self.batches.try_iter().collect()
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_until_stopped(
    mut rings: Vec<Sampler>,
    tick: Duration,
    send: &Sender<Batch>,
    stop: &OwnedFd,
) {
    let fds: Vec<RawFd> = rings.iter().map(AsRawFd::as_raw_fd).chain([stop.as_raw_fd()]).collect();
    loop {
        let _ = sys::wait_readable(&fds, tick);
        // The other end is closed: readable, at end of file.
        let stopping = sys::wait_readable(&[stop.as_raw_fd()], Duration::ZERO).is_ok_and(|n| n > 0);
        if stopping {
            for ring in &mut rings {
                let _ = ring.disable();
            }
        }
        let batch = drain(&mut rings);
        if !batch.events.is_empty() && send.send(batch).is_err() {
            return;
        }
        if stopping {
            return;
        }
        // Rest, but wake at once to stop.
        let _ = sys::wait_readable(&[stop.as_raw_fd()], REST);
    }
}

/// Copies every record out of `rings`.
fn drain(rings: &mut [Sampler]) -> Batch {
    let drained_at = sys::monotonic_ns();
    let mut events = Vec::new();
    for (i, ring) in rings.iter_mut().enumerate() {
        while let Some(record) = ring.next_record() {
            let misc = record.misc();
            let raw = record.to_contiguous();
            let Ok(parsed) = record.parse_record() else {
                tracing::trace!("unparsable perf record");
                continue;
            };
            if let Some(event) = events::from_record(parsed, misc, &raw) {
                events.push((i, event));
            }
        }
    }
    Batch { drained_at, events }
}
