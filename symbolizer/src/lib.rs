//! Addresses to frames.
//!
//! The sampler hands over addresses together with the mapping they fall in
//! and the process they were sampled in; this crate turns them into
//! [`firebox_model::Frame`]s with readable names. Files are always read
//! through the process's own root (`/proc/PID/root`) or its
//! `/proc/PID/map_files`, and on the host only when the build-id proves it is
//! the same file; every cache is keyed by what a file is (its build-id or
//! identity), never by its path.
//!
//! Names come from, in order of preference: DWARF in the binary, a separate
//! debug file (by build-id, `.gnu_debuglink`, [`DebugInfoFinder`]s, extra
//! debug directories), the ELF symbol tables, a JIT's perf map, and
//! `/proc/kallsyms` for kernel addresses. Inlined functions become frames
//! of their own. Names are demangled and tidied by [`names::clean`].
//!
//! Constraints: offline (no network, no debuginfod), best effort (an address
//! nothing resolves is still a frame, naming its module and offset).
//!
//! ```no_run
//! use firebox_symbolizer::{Mapping, ProcessView, Symbolizer};
//!
//! let mut symbolizer = Symbolizer::new();
//! let process = ProcessView::of_pid(4100);
//! let mapping = Mapping {
//!     start: 0x55d0_0000_0000,
//!     end: 0x55d0_0010_0000,
//!     file_offset: 0,
//!     path: "/usr/local/bin/app".into(),
//!     build_id: None,
//! };
//! let symbolized = symbolizer.user(&process, &mapping, 0x55d0_0000_1234);
//! println!("{} from {:?}", symbolized.leaf_name(), symbolized.source);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod config;
mod elf;
mod error;
pub mod kernel;
pub mod layers;
pub mod names;
pub mod perf_map;
mod process;
mod resolve;
mod stats;
mod symbolized;
mod symbolizer;

pub use config::{DebugInfoFinder, DebugRequest, SymbolizerConfig};
pub use error::Error;
pub use process::{module_name, Mapping, MappingKind, ProcessView};
pub use stats::Stats;
pub use symbolized::{ModuleFile, Source, Symbolized};
pub use symbolizer::Symbolizer;

/// The files that may be the one `mapping` of `process` maps, in the order
/// the symbolizer tries them: the mapped file itself
/// (`/proc/PID/map_files`), the path under the process's root, and, when the
/// mapping has a build-id, the same path on the host. A caller checks each
/// against `mapping.build_id` before it trusts it.
pub fn mapped_file_candidates(process: &ProcessView, mapping: &Mapping) -> Vec<std::path::PathBuf> {
    let config = SymbolizerConfig::default();
    resolve::binary_candidates(process, mapping, &config)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}
