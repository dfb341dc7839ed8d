//! Folded stacks out: `root;...;leaf COUNT`, sorted, kind suffixes kept
//! (see [`firebox_model::folded_frame_name`]).

use std::io::{self, Write};

use firebox_model::Profile;

/// Writes `profile` as folded lines.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write<W: Write>(profile: &Profile, out: W) -> io::Result<()> {
    profile.write_folded(io::BufWriter::new(out))
}
