//! The one error type of the crate.
//!
//! Per-address failures are not errors: an address nothing resolves is still
//! a frame ([`Source::Unresolved`](crate::Source::Unresolved)). Errors are
//! what reading a whole file can fail with.

use std::path::PathBuf;

/// What reading a binary, a debug file, a perf map or the kernel's symbols
/// failed with.
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
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
