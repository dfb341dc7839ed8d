//! The one error type of this crate.

use std::fmt;

use crate::formats::Format;

/// Where in an input a reader gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// A 1-based line of a text input.
    Line(usize),
    /// A 1-based line and column of a text input (JSON).
    LineColumn(usize, usize),
    /// A byte offset into a binary input (after decompression, if any).
    Byte(u64),
    /// Somewhere the decoder did not say.
    Unknown,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::LineColumn(line, column) => write!(f, "line {line}, column {column}"),
            Position::Byte(offset) => write!(f, "byte {offset}"),
            Position::Unknown => f.write_str("an unknown position"),
        }
    }
}

impl Position {
    /// ` at line 3`, or nothing when the position is unknown.
    fn suffix(&self) -> String {
        match self {
            Position::Unknown => String::new(),
            at => format!(" at {at}"),
        }
    }
}

/// Everything that can go wrong while collecting samples or reading files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input could not be read at all.
    #[error("failed to read {name}")]
    Io {
        /// The file (or `stdin`).
        name: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An input is not what its format says it must be.
    #[error("{name}: bad {format} input{}: {message}", .at.suffix())]
    Malformed {
        /// The file (or `stdin`).
        name: String,
        /// The format the input was read as.
        format: Format,
        /// Where it broke.
        at: Position,
        /// What was wrong there.
        message: String,
    },
    /// A gzip-compressed input is truncated or corrupt.
    #[error("{name}: truncated or corrupt gzip stream at compressed {at}: {message}")]
    Gzip {
        /// The file (or `stdin`).
        name: String,
        /// How far into the compressed bytes the decoder got.
        at: Position,
        /// What the decoder said.
        message: String,
    },
    /// The format of an input could not be told from its content.
    #[error("cannot tell the format of {name} from its content ({why}); name it with --format")]
    UnknownFormat {
        /// The file (or `stdin`).
        name: String,
        /// What the content looked like.
        why: String,
    },
    /// The input is fine but the options asked for something it does not
    /// hold, such as a sample type a pprof file lacks.
    #[error("{name}: {message}")]
    Unsatisfied {
        /// The file (or `stdin`).
        name: String,
        /// What was asked and what is there.
        message: String,
    },
}

/// The name a reader gives its input until the caller names it.
pub(crate) const UNNAMED: &str = "input";

impl Error {
    /// A malformed-input error for an input not yet named.
    pub(crate) fn malformed(format: Format, at: Position, message: impl Into<String>) -> Self {
        Error::Malformed { name: UNNAMED.to_string(), format, at, message: message.into() }
    }

    /// An unsatisfiable-option error for an input not yet named.
    pub(crate) fn unsatisfied(message: impl Into<String>) -> Self {
        Error::Unsatisfied { name: UNNAMED.to_string(), message: message.into() }
    }

    /// The same error, naming its input `name` (a path, or `stdin`).
    pub fn with_name(mut self, new: impl Into<String>) -> Self {
        let new = new.into();
        match &mut self {
            Error::Io { name, .. }
            | Error::Malformed { name, .. }
            | Error::Gzip { name, .. }
            | Error::UnknownFormat { name, .. }
            | Error::Unsatisfied { name, .. } => *name = new,
        }
        self
    }
}
