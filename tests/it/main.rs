//! firebox's integration tests: real processes, real files, the real binary.

mod call_graph;
mod containers;
mod diff;
mod formats;
mod names;
mod record;
mod support;
mod unwind;
