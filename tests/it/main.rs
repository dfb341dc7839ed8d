//! firebox's integration tests: real processes, real files, the real binary.

mod formats;
mod support;
