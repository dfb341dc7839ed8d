//! Readers of other profilers' files, on public sample files and inputs
//! built from the cases other profilers got wrong.

mod folded;
mod fuzz;
mod perf_script;
mod pprof;
mod speedscope;
mod support;
