//! The live perf_event sampler.
