//! Writing a profile to a file in the format its name asks for.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use firebox_model::Profile;

use crate::render::{self, SvgOptions};

/// The formats a profile can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A flame graph SVG.
    Svg,
    /// Folded stacks.
    Folded,
}

/// Errors from writing output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file name does not say which format to write.
    #[error("cannot tell the output format from {0:?}: use .svg, .folded or .txt")]
    UnknownExtension(String),
    /// The directory to write into is missing.
    #[error("the output directory {0} does not exist")]
    MissingDirectory(String),
    /// Creating or writing the file failed.
    #[error("failed to write {path}")]
    Io {
        /// The output file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] render::RenderError),
}

impl OutputFormat {
    /// The format a file name asks for, by its extension.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownExtension`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("svg") => Ok(OutputFormat::Svg),
            Some("folded" | "txt" | "collapsed") => Ok(OutputFormat::Folded),
            _ => Err(Error::UnknownExtension(path.display().to_string())),
        }
    }
}

/// Fails early, before any work, when `path` cannot be created because its
/// directory does not exist.
///
/// # Errors
///
/// [`Error::MissingDirectory`].
pub fn check_writable(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(Error::MissingDirectory(dir.display().to_string()))
        }
        _ => Ok(()),
    }
}

/// Writes `profile` to `path` in `format`.
///
/// # Errors
///
/// When the file cannot be written, or the profile cannot be rendered.
pub fn write(profile: &Profile, format: OutputFormat, path: &Path) -> Result<(), Error> {
    let io_err = |source| Error::Io { path: path.display().to_string(), source };
    let file = File::create(path).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    match format {
        OutputFormat::Svg => render::write_svg(profile, &SvgOptions::default(), &mut out)?,
        OutputFormat::Folded => profile.write_folded(&mut out).map_err(io_err)?,
    }
    out.flush().map_err(io_err)?;
    out.into_inner().map_err(|e| io_err(e.into_error()))?.sync_all().map_err(io_err)
}
