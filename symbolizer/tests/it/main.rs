//! Integration tests of the symbolizer against real processes, compiled at
//! test time from `fixtures/symbolizer/`.

mod debug_files;
mod kernel;
mod perf_map;
mod roots;
mod support;
mod user;
