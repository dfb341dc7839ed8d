//! firebox: profiles of processes and Docker containers, and flame graphs of
//! them or of what other profilers wrote.
//!
//! This crate holds what turns a [`Profile`] into output (folded text, SVG)
//! and the pieces the command line drives. Samples come from
//! [`firebox_collectors`], names from [`firebox_symbolizer`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod diff;
pub mod formats;
pub mod render;

pub use firebox_model::{Frame, FrameKind, Meta, Profile};
