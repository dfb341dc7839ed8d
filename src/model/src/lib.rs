//! The profile model every part of firebox speaks.
//!
//! A [`Profile`] is a set of stacks, each with a weight (a sample count, or a
//! value such as bytes for profiles read from other tools). Frames are
//! interned: a stack is a list of [`FrameId`]s, root first, so a profile with
//! millions of samples over a few thousand distinct frames stays small.
//!
//! Collectors and format readers build profiles; the folded, SVG, pprof and
//! speedscope writers, the diff and the agent's store read them. Nothing here
//! does I/O beyond writing folded text to a caller's writer.
//!
//! ```
//! use firebox_model::{Frame, Profile};
//!
//! let mut profile = Profile::default();
//! profile.add_frames([Frame::process("app"), Frame::native("main"), Frame::native("hot")], 3);
//! profile.add_frames([Frame::process("app"), Frame::native("main"), Frame::kernel("read")], 1);
//! assert_eq!(profile.total(), 4);
//! assert_eq!(profile.folded_lines(), ["app;main;hot 3", "app;main;read_[k] 1"]);
//! ```
//!
//! # Glossary
//!
//! - *sample*: one observation of a thread's stack, weighted.
//! - *frame*: one function (or synthetic node such as a process) in a stack.
//! - *stack*: frames from the root (process, thread entry) to the leaf.
//! - *module* (DSO): the binary or library a native frame's code lives in.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod folded;
mod profile;

pub use folded::{escape_frame_name, folded_frame_name};
pub use profile::{Frame, FrameDetail, FrameId, FrameKind, Meta, Profile};
