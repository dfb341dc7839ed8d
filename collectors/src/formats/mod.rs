//! Readers of other profilers' files, each into a [`Profile`].
//!
//! One module per format, each with the same shape: an `Options` struct and
//! `from_reader` / `from_bytes` functions. [`read_path`] and [`read_bytes`]
//! detect the format from the content ([`detect`]), undo gzip, and dispatch.
//!
//! ```
//! use firebox_collectors::formats::{self, ReadOptions};
//!
//! let profile = formats::read_bytes(b"app;main;work 3\napp;main 1\n", &ReadOptions::default())?;
//! assert_eq!(profile.total(), 4);
//! # Ok::<(), firebox_collectors::Error>(())
//! ```

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use firebox_model::Profile;

use crate::error::{Error, Position, UNNAMED};

pub mod async_profiler;
pub mod detect;
pub mod folded;
pub mod jfr;
#[cfg(feature = "perf-data")]
pub mod perf_data;
pub mod perf_script;
pub mod pprof;
pub mod pyspy;
pub mod speedscope;
mod text;

/// The file formats firebox reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Folded stacks, `root;...;leaf COUNT` ([`folded`]).
    Folded,
    /// The text `perf script` prints.
    PerfScript,
    /// `perf record`'s perf.data file.
    PerfData,
    /// Google's profile.proto, gzipped or plain.
    Pprof,
    /// py-spy's raw (collapsed) output.
    PySpy,
    /// speedscope's JSON file format.
    Speedscope,
    /// async-profiler's collapsed output, with frame-type suffixes.
    AsyncProfiler,
    /// A Java Flight Recorder recording.
    Jfr,
}

impl Format {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [Format; 8] = [
        Format::Folded,
        Format::PerfScript,
        Format::PerfData,
        Format::Pprof,
        Format::PySpy,
        Format::Speedscope,
        Format::AsyncProfiler,
        Format::Jfr,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Folded => "folded",
            Format::PerfScript => "perf-script",
            Format::PerfData => "perf-data",
            Format::Pprof => "pprof",
            Format::PySpy => "pyspy",
            Format::Speedscope => "speedscope",
            Format::AsyncProfiler => "async-profiler",
            Format::Jfr => "jfr",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.to_ascii_lowercase().replace('_', "-");
        let alias = match wanted.as_str() {
            "collapsed" => Some(Format::Folded),
            "py-spy" => Some(Format::PySpy),
            "perf" => Some(Format::PerfScript),
            "perf.data" => Some(Format::PerfData),
            _ => None,
        };
        alias.or_else(|| Format::ALL.into_iter().find(|f| f.name() == wanted)).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format `{s}`; known formats: {}", names.join(", "))
        })
    }
}

/// How [`read_path`] and [`read_bytes`] read an input.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The format to read the input as; detected from the content when
    /// `None`.
    pub format: Option<Format>,
    /// Settings for folded stacks.
    pub folded: folded::Options,
    /// Settings for py-spy raw output.
    pub pyspy: pyspy::Options,
    /// Settings for async-profiler collapsed output.
    pub async_profiler: async_profiler::Options,
    /// Settings for pprof profiles.
    pub pprof: pprof::Options,
    /// Settings for `perf script` text.
    pub perf_script: perf_script::Options,
    /// Settings for speedscope files.
    pub speedscope: speedscope::Options,
    /// Settings for JFR recordings.
    pub jfr: jfr::Options,
}

/// Reads the profile in the file at `path`; `-` reads standard input.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::UnknownFormat`]
/// when its format cannot be detected, and whatever the format's reader
/// finds wrong; every error names the file.
pub fn read_path(path: &Path, options: &ReadOptions) -> Result<Profile, Error> {
    let (name, bytes) = if path == Path::new("-") {
        ("stdin".to_string(), read_all(std::io::stdin().lock()))
    } else {
        (path.display().to_string(), std::fs::read(path).map_err(io_error))
    };
    bytes.and_then(|bytes| read_bytes(&bytes, options)).map_err(|e| e.with_name(name))
}

/// Reads a profile from `reader` (a whole input); see [`read_bytes`].
///
/// # Errors
///
/// As [`read_bytes`], plus [`Error::Io`].
pub fn read_reader<R: Read>(reader: R, options: &ReadOptions) -> Result<Profile, Error> {
    read_bytes(&read_all(reader)?, options)
}

/// Reads a profile held in memory: gzip is undone, then the format is the
/// one `options` names or the one [`detect::detect`] finds.
///
/// # Errors
///
/// [`Error::Malformed`] for a broken gzip stream or input the reader
/// refuses, [`Error::UnknownFormat`] when detection fails. Errors name the
/// input `input`; [`Error::with_name`] renames them.
pub fn read_bytes(bytes: &[u8], options: &ReadOptions) -> Result<Profile, Error> {
    let inflated;
    let bytes = if detect::is_gzip(bytes) {
        inflated = gunzip(bytes)?;
        &inflated[..]
    } else {
        bytes
    };
    let format = match options.format {
        Some(format) => format,
        None => detect::detect(bytes)?,
    };
    tracing::debug!(%format, bytes = bytes.len(), "reading input");

    match format {
        Format::Folded => folded::from_bytes(bytes, &options.folded),
        #[cfg(feature = "perf-data")]
        Format::PerfData => perf_data::from_bytes(bytes, &options.perf_script),
        #[cfg(not(feature = "perf-data"))]
        Format::PerfData => Err(Error::unsatisfied(
            "this build of firebox reads no perf.data files (the perf-data feature is off); \
             convert with `perf script` first",
        )),
        Format::PerfScript => perf_script::from_bytes(bytes, &options.perf_script),
        Format::Pprof => pprof::from_bytes(bytes, &options.pprof),
        Format::Jfr => jfr::from_bytes(bytes, &options.jfr),
        Format::Speedscope => speedscope::from_bytes(bytes, &options.speedscope),
        Format::PySpy => pyspy::from_bytes(bytes, &options.pyspy),
        Format::AsyncProfiler => async_profiler::from_bytes(bytes, &options.async_profiler),
    }
}

/// The largest input, after decompression, that a reader accepts: a guard
/// against gzip bombs that still leaves room for very large profiles.
pub const MAX_INPUT: u64 = 8 << 30;

/// Undoes gzip (one or more members).
pub(crate) fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut input = std::io::Cursor::new(bytes);
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
    let result =
        flate2::read::MultiGzDecoder::new(&mut input).take(MAX_INPUT).read_to_end(&mut out);
    match result {
        Ok(_) if out.len() as u64 >= MAX_INPUT => Err(Error::unsatisfied(format!(
            "the gzip stream inflates to more than {MAX_INPUT} bytes, which no profile needs"
        ))),
        Ok(_) => Ok(out),
        Err(e) => Err(Error::Gzip {
            name: UNNAMED.to_string(),
            at: Position::Byte(input.position()),
            message: format!("{e} (after {} bytes of output)", out.len()),
        }),
    }
}

/// Reads a whole input into memory.
pub(crate) fn read_all<R: Read>(mut reader: R) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(io_error)?;
    Ok(bytes)
}

fn io_error(source: std::io::Error) -> Error {
    Error::Io { name: UNNAMED.to_string(), source }
}
