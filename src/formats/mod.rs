//! Writers of the formats other tools read, each from a [`Profile`].
//!
//! One module per format: [`folded`], [`pprof`], [`speedscope`]; the SVG
//! flame graph is [`crate::render`]. [`OutputFormat`] names them and
//! [`write`] dispatches. The readers of these and other formats live in
//! [`firebox_collectors::formats`].

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use firebox_model::Profile;

use crate::render::{self, SvgOptions};

pub mod folded;
pub mod pprof;
pub mod speedscope;

/// A format firebox writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputFormat {
    /// A flame graph SVG.
    Svg,
    /// Folded stacks.
    Folded,
    /// Gzipped profile.proto, as `go tool pprof` reads it.
    Pprof,
    /// speedscope's JSON file format.
    Speedscope,
}

impl OutputFormat {
    /// Every output format.
    pub const ALL: [OutputFormat; 4] =
        [OutputFormat::Svg, OutputFormat::Folded, OutputFormat::Pprof, OutputFormat::Speedscope];

    /// The name `--output-format` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Svg => "svg",
            OutputFormat::Folded => "folded",
            OutputFormat::Pprof => "pprof",
            OutputFormat::Speedscope => "speedscope",
        }
    }

    /// The format a file name's extension asks for: `.svg`, `.folded` or
    /// `.txt`, `.pprof`, `.pb.gz` or `.pb`, `.json` (speedscope).
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ends = |ext: &str| name.ends_with(ext);
        if ends(".svg") {
            Some(OutputFormat::Svg)
        } else if ends(".folded") || ends(".txt") || ends(".collapsed") {
            Some(OutputFormat::Folded)
        } else if ends(".pprof") || ends(".pb.gz") || ends(".pb") || ends(".prof") {
            Some(OutputFormat::Pprof)
        } else if ends(".json") {
            Some(OutputFormat::Speedscope)
        } else {
            None
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "collapsed" | "txt" => Some(OutputFormat::Folded),
            "json" => Some(OutputFormat::Speedscope),
            "pb.gz" | "proto" => Some(OutputFormat::Pprof),
            _ => None,
        };
        alias.or_else(|| OutputFormat::ALL.into_iter().find(|f| f.name() == wanted)).ok_or_else(
            || {
                let names: Vec<&str> = OutputFormat::ALL.iter().map(|f| f.name()).collect();
                format!("unknown output format `{s}`; known formats: {}", names.join(", "))
            },
        )
    }
}

/// Errors from writing a profile out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Drawing the flame graph failed.
    #[error(transparent)]
    Render(#[from] render::RenderError),
    /// Writing the bytes failed.
    #[error("failed to write the {format} output")]
    Io {
        /// What was being written.
        format: OutputFormat,
        /// What the writer said.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `profile` to `out` as `format`; `svg` sets titles of flame graphs.
///
/// # Errors
///
/// [`WriteError::Render`] for an SVG of an empty profile, [`WriteError::Io`]
/// when writing fails.
pub fn write<W: Write>(
    profile: &Profile,
    format: OutputFormat,
    svg: &SvgOptions,
    out: W,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io { format, source };
    match format {
        OutputFormat::Svg => render::write_svg(profile, svg, out)?,
        OutputFormat::Folded => folded::write(profile, out).map_err(io)?,
        OutputFormat::Pprof => pprof::write(profile, out).map_err(io)?,
        OutputFormat::Speedscope => speedscope::write(profile, out).map_err(io)?,
    }
    Ok(())
}
