//! Writing a profile to a file or standard output.

use std::path::Path;

use anyhow::Context;
use firebox::formats::{self, OutputFormat};
use firebox::render::SvgOptions;
use firebox::Profile;

/// Fails early, before any work, when `path` cannot be created because its
/// directory does not exist.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if path != Path::new("-") && !dir.as_os_str().is_empty() && !dir.is_dir() => {
            anyhow::bail!("the output directory {} does not exist", dir.display())
        }
        _ => Ok(()),
    }
}

/// The format `path`'s extension asks for.
pub fn format_of(path: &Path) -> anyhow::Result<OutputFormat> {
    OutputFormat::from_path(path).with_context(|| {
        format!(
            "cannot tell the output format from {}: use .svg, .folded, .txt, .pprof, .pb.gz or \
             .json",
            path.display()
        )
    })
}

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
