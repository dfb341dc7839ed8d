//! Every source of samples firebox knows.
//!
//! - [`perf`]: the live sampler. It opens `perf_event` software `cpu-clock`
//!   events on the target's threads, reads samples, mmap, comm, fork and exit
//!   records from the ring buffers, and resolves each sample against the
//!   mappings its own process had at that moment.
//! - [`formats`]: readers of the files other profilers write (folded
//!   stacks, perf script, perf.data, pprof, py-spy, speedscope,
//!   async-profiler, JFR), with format detection.
//!
//! Collectors produce [`firebox_model::Profile`]s; they never render.
#![warn(missing_docs)]

pub mod containers;
mod error;
pub mod formats;
pub mod perf;

pub use error::{Error, Position};
