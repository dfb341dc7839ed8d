//! firebox's integration tests: real processes, real files, the real binary.

mod containers;
mod record;
mod support;
