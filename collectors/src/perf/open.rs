//! Opening the `cpu-clock` events on a target's threads or cgroups: one ring
//! buffer per CPU for each set of events alike (and per cgroup), and with
//! `--call-graph auto` a second set, stopped, to switch to.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::OwnedFd;

use perf_event::events::Software;
use perf_event::{Builder, Clock, Counter, SampleFlag, Sampler};

use super::{sys, unwind, Config, Error, MAX_STACK_SIZE};

/// Ring buffer data size per CPU with callchains only, and with stack copies.
const RING_BYTES: usize = 512 * 1024;
const RING_BYTES_UNWIND: usize = 4 * 1024 * 1024;

/// The kernel wakes the reader once a ring is this full (a quarter), so a
/// burst of samples is drained long before the ring overflows.
fn watermark(stacks: Stacks) -> usize {
    ring_bytes(stacks) / 4
}

fn ring_bytes(stacks: Stacks) -> usize {
    match stacks {
        Stacks::Copy => RING_BYTES_UNWIND,
        Stacks::FramePointers | Stacks::Top => RING_BYTES,
    }
}

/// What the samples of a set of events carry to walk user stacks with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stacks {
    /// The kernel's frame-pointer callchain alone.
    FramePointers,
    /// The callchain, with the registers and the top [`TOP_BYTES`] of the
    /// stack: enough to find the frames a frame-pointer walk skips (a leaf
    /// that sets up no frame, a function still in its prologue) when every
    /// module keeps frame pointers.
    Top,
    /// The registers and a copy of the stack of `stack_size` bytes, to
    /// unwind with CFI.
    Copy,
}

/// Bytes of stack that [`Stacks::Top`] samples carry.
pub(crate) const TOP_BYTES: u32 = 512;

/// Events opened alike, started and stopped together.
struct Set {
    /// The group it belongs to: the target's threads, or one cgroup.
    group: usize,
    stacks: Stacks,
    /// Whether it samples now; a set on standby waits to be switched to.
    active: bool,
    /// Its ring on each CPU for thread events, once the first is open.
    cpu_rings: Vec<usize>,
    /// Every ring of the set, by index in [`Events::rings`].
    rings: Vec<usize>,
    /// Its events that write into a ring they do not own, by index in
    /// [`Events::others`].
    others: Vec<usize>,
}

/// The open events of a recording.
pub(crate) struct Events {
    /// One ring per CPU and set (and cgroup); every other event of the set
    /// on that CPU writes into it. Handed to the ring reader once all are
    /// open.
    pub(crate) rings: Vec<Sampler>,
    /// Events that write into a ring they do not own, and the anchors.
    pub(crate) others: Vec<Counter>,
    /// What the samples of each ring carry, by ring index.
    ring_stacks: Vec<Stacks>,
    /// A second descriptor of each ring's event, to start and stop it once
    /// the ring reader owns the ring; only in groups with a set on standby.
    ring_handles: Vec<Option<OwnedFd>>,
    sets: Vec<Set>,
    groups: usize,
}

impl Events {
    pub(crate) fn new() -> Self {
        Events {
            rings: Vec::new(),
            others: Vec::new(),
            ring_stacks: Vec::new(),
            ring_handles: Vec::new(),
            sets: Vec::new(),
            groups: 0,
        }
    }

    /// A group of events (for the target's threads, or for one cgroup)
    /// whose samples carry `active`, with a set carrying `standby` opened
    /// beside it, stopped, to switch to during the recording.
    pub(crate) fn add_group(&mut self, active: Stacks, standby: Option<Stacks>) -> usize {
        let group = self.groups;
        self.groups += 1;
        let set = |stacks, active| Set {
            group,
            stacks,
            active,
            cpu_rings: Vec::new(),
            rings: Vec::new(),
            others: Vec::new(),
        };
        self.sets.push(set(active, true));
        self.sets.extend(standby.map(|s| set(s, false)));
        group
    }

    /// The sets of `group`, by index in `sets`.
    fn sets_of(&self, group: usize) -> Vec<usize> {
        (0..self.sets.len()).filter(|&i| self.sets[i].group == group).collect()
    }

    /// What the samples of ring `index` carry.
    pub(crate) fn stacks_of(&self, ring: usize) -> Stacks {
        self.ring_stacks.get(ring).copied().unwrap_or(Stacks::FramePointers)
    }

    /// Whether a set of `group` carrying `stacks` waits on standby; any
    /// group's with `None`.
    pub(crate) fn on_standby(&self, group: Option<usize>, stacks: Stacks) -> bool {
        self.sets
            .iter()
            .filter(|s| group.is_none_or(|g| s.group == g))
            .any(|s| !s.active && s.stacks == stacks)
    }

    /// Stops the active set of `group` and starts the one on standby that
    /// carries `stacks`; the events the target's threads inherited follow.
    pub(crate) fn switch_to(&mut self, group: usize, stacks: Stacks) -> io::Result<()> {
        let sets = self.sets_of(group);
        let Some(next) =
            sets.iter().copied().find(|&i| !self.sets[i].active && self.sets[i].stacks == stacks)
        else {
            return Ok(());
        };
        // Stop first: a moment without samples, rather than two of one.
        let was: Vec<usize> = sets.into_iter().filter(|&i| self.sets[i].active).collect();
        for &i in &was {
            self.set_enabled(i, false)?;
        }
        if let Err(e) = self.set_enabled(next, true) {
            // Keep sampling as before rather than not at all.
            let _ = self.set_enabled(next, false);
            for &i in &was {
                let _ = self.set_enabled(i, true);
            }
            return Err(e);
        }
        for i in was {
            self.sets[i].active = false;
        }
        self.sets[next].active = true;
        Ok(())
    }

    fn set_enabled(&mut self, set: usize, on: bool) -> io::Result<()> {
        let set = &self.sets[set];
        for &ring in &set.rings {
            match self.rings.get_mut(ring) {
                Some(ring) if on => ring.enable()?,
                Some(ring) => ring.disable()?,
                None => match self.ring_handles.get(ring).and_then(Option::as_ref) {
                    Some(handle) => sys::set_enabled(handle, on)?,
                    None => return Err(io::Error::other("no descriptor kept for the ring")),
                },
            }
        }
        for &other in &set.others {
            if on {
                self.others[other].enable()?;
            } else {
                self.others[other].disable()?;
            }
        }
        Ok(())
    }

    /// A new ring of `set` from `counter`.
    fn add_ring(&mut self, set: usize, counter: Counter) -> Result<usize, Error> {
        let stacks = self.sets[set].stacks;
        let ring = counter.sampled(ring_bytes(stacks)).map_err(Error::Ring)?;
        let switches = self.sets_of(self.sets[set].group).len() > 1;
        let handle = switches.then(|| sys::duplicate(&ring)).transpose().map_err(Error::Ring)?;
        self.ring_handles.push(handle);
        self.rings.push(ring);
        self.ring_stacks.push(stacks);
        self.sets[set].rings.push(self.rings.len() - 1);
        Ok(self.rings.len() - 1)
    }

    /// Opens an event on thread `tid` for every CPU and set of `group`,
    /// children included. With `on_exec` the active set starts counting when the
    /// thread calls `exec`; otherwise the events start disabled until
    /// [`Events::enable`].
    pub(crate) fn open_thread(
        &mut self,
        group: usize,
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
        for set in self.sets_of(group) {
            let (stacks, active) = (self.sets[set].stacks, self.sets[set].active);
            for cpu in 0..cpu_count() {
                let counter = builder(config, stacks, on_exec && active)
                    .observe_pid(tid as i32)
                    .one_cpu(cpu)
                    .build()
                    .map_err(|e| self.open_error(e, tid, cpu, config))?;
                match self.sets[set].cpu_rings.get(cpu) {
                    Some(&ring) => {
                        sys::set_output(&counter, &self.rings[ring]).map_err(|e| Error::Open {
                            tid,
                            cpu,
                            source: e,
                        })?;
                        self.others.push(counter);
                        self.sets[set].others.push(self.others.len() - 1);
                    }
                    None => {
                        let ring = self.add_ring(set, counter)?;
                        self.sets[set].cpu_rings.push(ring);
                    }
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

    /// Opens an event on cgroup `dir` for every CPU and set of `group`, each with a
    /// ring of its own so that records tell which cgroup they came from.
    /// Returns the indexes of the new rings in [`Events::rings`].
    pub(crate) fn open_cgroup(
        &mut self,
        group: usize,
        dir: &File,
        name: &str,
        config: &Config,
    ) -> Result<Range<usize>, Error> {
        let first = self.rings.len();
        for set in self.sets_of(group) {
            for cpu in 0..cpu_count() {
                let mut b = builder(config, self.sets[set].stacks, false);
                // A cgroup event is per CPU and sees every task in the
                // cgroup: there is nothing to inherit.
                let counter = b.inherit(false).observe_cgroup(dir).one_cpu(cpu).build().map_err(
                    |e| match e.raw_os_error() {
                        Some(libc::EACCES | libc::EPERM) => {
                            Error::CgroupDenied { name: name.into() }
                        }
                        _ => Error::OpenCgroup { name: name.into(), cpu, source: e },
                    },
                )?;
                self.add_ring(set, counter)?;
            }
        }
        Ok(first..self.rings.len())
    }

    /// Starts the active set's events and the anchors.
    pub(crate) fn enable(&mut self) -> io::Result<()> {
        let in_sets: Vec<usize> = self.sets.iter().flat_map(|s| s.others.clone()).collect();
        for (i, anchor) in self.others.iter_mut().enumerate() {
            if !in_sets.contains(&i) {
                anchor.enable()?;
            }
        }
        for set in 0..self.sets.len() {
            if self.sets[set].active {
                self.set_enabled(set, true)?;
            }
        }
        Ok(())
    }

    /// Stops every event; what is in the rings stays there to be read.
    pub(crate) fn disable(&mut self) {
        for ring in &mut self.rings {
            let _ = ring.disable();
        }
        for handle in self.ring_handles.iter().flatten() {
            let _ = sys::set_enabled(handle, false);
        }
        for counter in &mut self.others {
            let _ = counter.disable();
        }
    }
}

fn builder(config: &Config, stacks: Stacks, on_exec: bool) -> Builder<'static> {
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
        .wakeup_watermark(watermark(stacks));
    let size = config.stack_size.clamp(8, MAX_STACK_SIZE) & !7;
    let copy = match stacks {
        Stacks::FramePointers => None,
        Stacks::Top => Some(TOP_BYTES.min(size)),
        Stacks::Copy => Some(size),
    };
    if let Some(bytes) = copy {
        b.sample(SampleFlag::REGS_USER | SampleFlag::STACK_USER)
            .sample_regs_user(unwind::REGS_MASK)
            .sample_stack_user(bytes);
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
