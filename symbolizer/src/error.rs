//! The one error type of the crate.
//!
//! Per-address failures are not errors: an address nothing resolves is still
//! a frame ([`Source::Unresolved`](crate::Source::Unresolved)). Errors are
//! what reading a whole file can fail with.

use std::path::PathBuf;

/// What reading a binary, a debug file, a perf map, the kernel's symbols or
/// an image archive failed with; problems of single image layers are
/// warnings, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error("failed to read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ELF file `object` can parse.
    #[error("failed to parse {} as ELF", path.display())]
    Elf {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: object::Error,
    },
    /// blazesym could not load the file's symbols.
    #[error("failed to load symbols of {}", path.display())]
    Symbols {
        /// The file.
        path: PathBuf,
        /// What blazesym said.
        #[source]
        source: blazesym::Error,
    },
    /// The cache directory could not be created or written.
    #[error("failed to use the debug cache at {}", path.display())]
    Cache {
        /// The directory or file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The archive could not be read as a tar stream.
    #[error("failed to read the image archive {what}")]
    Archive {
        /// The archive (a path, or the image it was exported from).
        what: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The archive has no manifest that says which layers make the image.
    #[error("{what} is not an image archive: {reason}")]
    NotAnImage {
        /// The archive.
        what: String,
        /// What is missing.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
