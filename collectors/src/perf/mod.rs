//! The live sampler: `perf_event` `cpu-clock` samples of a process or a
//! command, with kernel and user callchains, each resolved against the
//! mappings of its own process at the time it was taken.
//!
//! The software `cpu-clock` event runs in frequency mode on every thread of
//! the target (children and threads created later included, through
//! `inherit`), one ring buffer per CPU. A thread of its own empties the
//! rings (see `reader`); mmap, comm, fork and exit records keep a table of
//! processes and their mappings current; samples are processed in time
//! order across CPUs, and symbolized as they arrive so a process that exits
//! later still gets names.
//!
//! ```no_run
//! use std::time::Duration;
//! use firebox_collectors::perf::{Config, Recorder, Status, Target};
//!
//! let mut recorder = Recorder::start(&Target::Pid(1234), &Config::default())?;
//! while let Status::Running = recorder.poll()? {
//!     recorder.wait(Duration::from_millis(100));
//! #   break;
//! }
//! let recording = recorder.finish();
//! println!("{} samples", recording.stats.samples);
//! # Ok::<(), firebox_collectors::perf::Error>(())
//! ```

mod cfi;
mod events;
mod frame_pointers;
mod open;
mod procs;
mod reader;
mod recorder;
mod sigframe;
mod stacks;
mod stitch;
mod sys;
mod unwind;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

pub use recorder::{Recorder, Recording, Stats, Status};

/// Gives the heap memory a finished [`Recorder`] freed (unwind tables, symbol
/// caches) back to the kernel, before the profile is turned into output.
pub fn release_free_memory() {
    sys::release_free_heap();
}

/// The CPU time this process (all its threads) has used so far, user and
/// system: what a recording costs the machine.
pub fn own_cpu_time() -> std::time::Duration {
    sys::own_cpu_time()
}

/// What to sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every thread of a running process, and what it starts from now on.
    Pid(u32),
    /// A command to start, with its arguments; sampled with what it forks
    /// until it exits.
    Command(Vec<OsString>),
    /// Every process in these cgroups (containers), those that join them
    /// during the recording included, until every cgroup is empty. Each
    /// sample's stack is rooted at its cgroup's name.
    Cgroups(Vec<Cgroup>),
}

/// A cgroup to sample, such as a container's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// The root frame of its samples (the container's name).
    pub name: String,
    /// Its directory in the hierarchy perf events follow.
    pub dir: PathBuf,
}

/// How user stacks are walked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallGraph {
    /// The kernel's frame-pointer callchain only: cheapest, but one or two
    /// frames deep through code built without frame pointers.
    Fp,
    /// Unwind a copy of each sample's user stack with the modules' DWARF
    /// CFI (falling back to frame pointers in modules without CFI).
    Dwarf,
    /// Full stacks at the lowest cost: while every module the target maps
    /// keeps frame pointers, the kernel's frame-pointer walk with the top
    /// of the stack to mend the leaf; stack copies as with `Dwarf` from the
    /// first module that does not.
    #[default]
    Auto,
}

/// How to sample.
#[derive(Clone, Debug)]
pub struct Config {
    /// Samples per second per thread.
    pub frequency: u64,
    /// Sample kernel stacks too.
    pub kernel: bool,
    /// Put the thread name as a frame under the process.
    pub per_thread: bool,
    /// How user stacks are walked.
    pub call_graph: CallGraph,
    /// Bytes of user stack copied with each sample for unwinding; a
    /// multiple of 8 up to [`MAX_STACK_SIZE`].
    pub stack_size: u32,
}

/// The most user stack the kernel copies into one sample.
pub const MAX_STACK_SIZE: u32 = 65528;

impl Default for Config {
    fn default() -> Self {
        Config {
            frequency: 99,
            kernel: true,
            per_thread: false,
            call_graph: CallGraph::Auto,
            stack_size: 16 * 1024,
        }
    }
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused to open the event.
    #[error(
        "perf_event_open was denied for pid {tid} (kernel.perf_event_paranoid is {paranoid}): \
         run as root or with CAP_PERFMON, or allow it with `sysctl kernel.perf_event_paranoid={needed}`{hint}"
    )]
    Permission {
        /// The thread the event was for.
        tid: u32,
        /// The current `kernel.perf_event_paranoid`, or `unknown`.
        paranoid: String,
        /// The value that allows this recording for a normal user.
        needed: i32,
        /// Extra advice.
        hint: &'static str,
    },
    /// The pid names no process.
    #[error("no process with pid {0}: check the pid with `ps -p {0}`")]
    NoSuchProcess(u32),
    /// The process has exited and waits for its parent to reap it.
    #[error("pid {0} has exited (a zombie its parent has not reaped yet): nothing to profile")]
    Zombie(u32),
    /// The command is not on PATH or not executable.
    #[error("command not found: {0}")]
    CommandNotFound(String),
    /// The command could not be started.
    #[error("failed to start {command}")]
    Spawn {
        /// The command.
        command: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// firebox ran out of file descriptors: one event per thread and CPU.
    #[error(
        "out of file descriptors after {open} perf events (one per thread and CPU): raise the \
         limit with `ulimit -n {wanted}`"
    )]
    TooManyFiles {
        /// The events open so far.
        open: usize,
        /// A limit that would do.
        wanted: u64,
    },
    /// Any other failure to open an event.
    #[error("failed to open a perf event for thread {tid} on cpu {cpu}")]
    Open {
        /// The thread.
        tid: u32,
        /// The CPU.
        cpu: usize,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The ring buffer could not be mapped.
    #[error("failed to map a perf ring buffer (raise the locked-memory limit with `ulimit -l`)")]
    Ring(#[source] io::Error),
    /// The events could not be started.
    #[error("failed to enable the perf events")]
    Enable(#[source] io::Error),
    /// The cgroup directory could not be opened.
    #[error("failed to open the cgroup of {name} at {}", dir.display())]
    CgroupDir {
        /// The cgroup's name.
        name: String,
        /// Its directory.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The cgroup holds no process to sample.
    #[error("{0} has no running process to sample")]
    EmptyCgroup(String),
    /// The kernel refused an event in cgroup mode.
    #[error(
        "perf_event_open was denied for the cgroup of {name}: sampling a container \
         needs root or CAP_PERFMON (or `sysctl kernel.perf_event_paranoid=0`)"
    )]
    CgroupDenied {
        /// The cgroup's name.
        name: String,
    },
    /// Any other failure to open an event on a cgroup.
    #[error("failed to open a perf event for the cgroup of {name} on cpu {cpu}")]
    OpenCgroup {
        /// The cgroup's name.
        name: String,
        /// The CPU.
        cpu: usize,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
}

impl Error {
    fn from_open(err: io::Error, tid: u32, cpu: usize, config: &Config) -> Self {
        match err.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => {
                let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".to_string());
                let (needed, hint) = if config.kernel {
                    (1, ", or sample user space only with --no-kernel")
                } else {
                    (2, "")
                };
                Error::Permission { tid, paranoid, needed, hint }
            }
            Some(libc::ESRCH) => Error::NoSuchProcess(tid),
            _ => Error::Open { tid, cpu, source: err },
        }
    }
}
