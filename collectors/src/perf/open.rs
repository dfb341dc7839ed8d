//! Opening the `cpu-clock` events on a target's threads, one ring buffer per
//! CPU.

use std::fs::File;
use std::io;
use std::ops::Range;

use perf_event::events::Software;
use perf_event::{Builder, Clock, Counter, SampleFlag, Sampler};

use super::{sys, unwind, Config, Error, MAX_STACK_SIZE};

/// Ring buffer data size per CPU with callchains only, and with stack copies.
const RING_BYTES: usize = 512 * 1024;
const RING_BYTES_UNWIND: usize = 4 * 1024 * 1024;

/// The kernel wakes the reader once a ring is this full (a quarter), so a
/// burst of samples is drained long before the ring overflows.
fn watermark(config: &Config) -> usize {
    ring_bytes(config) / 4
}

fn ring_bytes(config: &Config) -> usize {
    if config.unwinds() {
        RING_BYTES_UNWIND
    } else {
        RING_BYTES
    }
}

/// The open events of a recording.
pub(crate) struct Events {
    /// One ring per CPU (per CPU and cgroup); every other event on that CPU
    /// writes into it. Handed to the ring reader once all are open.
    pub(crate) rings: Vec<Sampler>,
    /// Events that write into a ring they do not own.
    pub(crate) others: Vec<Counter>,
}

impl Events {
    pub(crate) fn new() -> Self {
        Events { rings: Vec::new(), others: Vec::new() }
    }

    /// Opens an event on thread `tid` for every CPU, children included.
    /// With `on_exec` the events start counting when the thread calls
    /// `exec`; otherwise they start disabled until [`Events::enable`].
    pub(crate) fn open_thread(
        &mut self,
        tid: u32,
        config: &Config,
        on_exec: bool,
    ) -> Result<(), Error> {
        // An event the thread's children do not inherit: without one, the
        // kernel takes the contexts of a thread and the threads it starts
        // for equals and swaps them at a switch between them, and a thread
        // that starts threads all the time is then sampled a fraction of
        // its time. perf's tracking event does the same.
        let anchor = Builder::new(Software::DUMMY)
            .observe_pid(tid as i32)
            .any_cpu()
            .inherit(false)
            .enabled(false)
            .enable_on_exec(on_exec)
            .build()
            .map_err(|e| self.open_error(e, tid, 0, config))?;
        self.others.push(anchor);
        for cpu in 0..cpu_count() {
            let counter = builder(config, on_exec)
                .observe_pid(tid as i32)
                .one_cpu(cpu)
                .build()
                .map_err(|e| self.open_error(e, tid, cpu, config))?;
            match self.rings.get(cpu) {
                Some(ring) => {
                    sys::set_output(&counter, ring).map_err(|e| Error::Open {
                        tid,
                        cpu,
                        source: e,
                    })?;
                    self.others.push(counter);
                }
                None => {
                    let ring = counter.sampled(ring_bytes(config)).map_err(Error::Ring)?;
                    self.rings.push(ring);
                }
            }
        }
        Ok(())
    }

    /// What a failure to open an event on `tid` means; out of descriptors,
    /// how many are open.
    fn open_error(&self, err: io::Error, tid: u32, cpu: usize, config: &Config) -> Error {
        match err.raw_os_error() {
            Some(libc::EMFILE) => Error::TooManyFiles {
                open: self.rings.len() + self.others.len(),
                wanted: descriptor_limit_to_ask(),
            },
            _ => Error::from_open(err, tid, cpu, config),
        }
    }

    /// Opens an event on cgroup `dir` for every CPU, each with a ring of its
    /// own so that records tell which cgroup they came from. Returns the
    /// indexes of the new rings in [`Events::rings`].
    pub(crate) fn open_cgroup(
        &mut self,
        dir: &File,
        name: &str,
        config: &Config,
    ) -> Result<Range<usize>, Error> {
        let first = self.rings.len();
        for cpu in 0..cpu_count() {
            let mut b = builder(config, false);
            // A cgroup event is per CPU and sees every task in the cgroup:
            // there is nothing to inherit.
            let counter =
                b.inherit(false).observe_cgroup(dir).one_cpu(cpu).build().map_err(|e| {
                    match e.raw_os_error() {
                        Some(libc::EACCES | libc::EPERM) => {
                            Error::CgroupDenied { name: name.into() }
                        }
                        _ => Error::OpenCgroup { name: name.into(), cpu, source: e },
                    }
                })?;
            let ring = counter.sampled(ring_bytes(config)).map_err(Error::Ring)?;
            self.rings.push(ring);
        }
        Ok(first..self.rings.len())
    }

    /// Starts every event.
    pub(crate) fn enable(&mut self) -> io::Result<()> {
        for ring in &mut self.rings {
            ring.enable()?;
        }
        for counter in &mut self.others {
            counter.enable()?;
        }
        Ok(())
    }

    /// Stops every event; what is in the rings stays there to be read.
    pub(crate) fn disable(&mut self) {
        for ring in &mut self.rings {
            let _ = ring.disable();
        }
        for counter in &mut self.others {
            let _ = counter.disable();
        }
    }
}

fn builder(config: &Config, on_exec: bool) -> Builder<'static> {
    let mut b = Builder::new(Software::CPU_CLOCK);
    b.sample_frequency(config.frequency)
        .sample(
            SampleFlag::IP
                | SampleFlag::TID
                | SampleFlag::TIME
                | SampleFlag::CALLCHAIN
                | SampleFlag::PERIOD
                | SampleFlag::CPU,
        )
        .sample_id_all(true)
        .mmap(true)
        .mmap2(true)
        .build_id(true)
        .comm(true)
        .comm_exec(true)
        .task(true)
        .inherit(true)
        .clockid(Clock::MONOTONIC)
        .exclude_kernel(!config.kernel)
        .exclude_callchain_kernel(!config.kernel)
        .exclude_hv(true)
        .enabled(false)
        .enable_on_exec(on_exec)
        .wakeup_watermark(watermark(config));
    if config.unwinds() {
        b.sample(SampleFlag::REGS_USER | SampleFlag::STACK_USER)
            .sample_regs_user(unwind::REGS_MASK)
            .sample_stack_user(config.stack_size.clamp(8, MAX_STACK_SIZE) & !7);
    }
    b
}

/// A file-descriptor limit worth asking for: the hard limit when the soft
/// one is below it, else four times the soft one.
fn descriptor_limit_to_ask() -> u64 {
    match sys::descriptor_limits() {
        Some((soft, hard)) if hard > soft => hard,
        Some((soft, _)) => soft.saturating_mul(4),
        None => 65536,
    }
}

/// The number of CPUs events are opened on: every possible CPU, so threads
/// are followed wherever they run.
fn cpu_count() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1).max(online_cpus())
}

fn online_cpus() -> usize {
    // The file reads like `0-3` or `0,2-5`: the highest number plus one.
    let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/online") else { return 1 };
    text.trim().split([',', '-']).filter_map(|n| n.parse::<usize>().ok()).max().map_or(1, |n| n + 1)
}
