//! Writing a profile to a file or standard output.

use std::path::Path;

use anyhow::Context;
use firebox::formats::{self, OutputFormat};
use firebox::render::SvgOptions;
use firebox::Profile;

/// Writes `profile` as `format` to `path` (`-` is standard output). A file
/// is written whole or not at all: the bytes are made first.
pub fn write(
    profile: &Profile,
    format: OutputFormat,
    svg: &SvgOptions,
    path: &Path,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    formats::write(profile, format, svg, &mut bytes)?;
    if path == Path::new("-") {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes).and_then(|()| stdout.flush()).context("failed to write to stdout")
    } else {
        std::fs::write(path, bytes).with_context(|| format!("failed to write {}", path.display()))
    }
}
