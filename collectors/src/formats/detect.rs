//! Telling an input's format from its content.
//!
//! Binary formats are known by their magic bytes (gzip `1f 8b`, perf.data
//! `PERFILE2`, JFR `FLR\0`) or, for profile.proto which has none, by
//! decoding as one. Text is JSON (speedscope) when it opens with `{`,
//! `perf script` output when its lines have the shape of a sample header
//! followed by indented frame lines, and folded stacks otherwise; folded
//! files whose frames carry py-spy's `name (file.py:line)` or
//! async-profiler's Java suffixes are read with those formats' rules.

use crate::error::{Error, UNNAMED};
use crate::formats::{perf_script, pprof, pyspy, text, Format};

/// How many leading lines of a text input detection looks at.
const SNIFF_LINES: usize = 200;

/// True when `bytes` open with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The format of an (already decompressed) input.
///
/// An empty input is folded (a profile without samples).
///
/// # Errors
///
/// [`Error::UnknownFormat`] when the content fits no format.
pub fn detect(bytes: &[u8]) -> Result<Format, Error> {
    if bytes.starts_with(b"PERFILE2") {
        return Ok(Format::PerfData);
    }
    if bytes.starts_with(b"FLR\0") {
        return Ok(Format::Jfr);
    }
    if !text::looks_like_text(bytes) {
        return detect_binary(bytes);
    }

    // Only the head is needed; decoding all of a large file would double it.
    let head = &bytes[..bytes.len().min(256 << 10)];
    let head = text::decode(head);
    let trimmed = head.trim_start();
    if trimmed.starts_with('{') {
        return Ok(Format::Speedscope);
    }
    Ok(detect_text(&head))
}

fn detect_binary(bytes: &[u8]) -> Result<Format, Error> {
    if pprof::looks_like_pprof(bytes) {
        return Ok(Format::Pprof);
    }
    let why = format!(
        "{} bytes of binary data that are neither gzip, perf.data, JFR nor profile.proto",
        bytes.len()
    );
    Err(Error::UnknownFormat { name: UNNAMED.to_string(), why })
}

/// Which of the text formats `head` is.
fn detect_text(head: &str) -> Format {
    let lines: Vec<&str> = head
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .take(SNIFF_LINES)
        .collect();
    let headers = || lines.iter().filter(|l| perf_script::parse_header(l).is_some());
    if headers().next().is_some() {
        return Format::PerfScript;
    }
    if lines.iter().any(|l| is_perf_frame_line(l)) && lines.iter().any(|l| is_perf_header(l)) {
        return Format::PerfScript;
    }

    let frames =
        || lines.iter().filter_map(|l| l.rsplit_once([' ', '\t'])).flat_map(|(s, _)| s.split(';'));
    if frames().any(|f| pyspy::is_python(f.trim())) {
        return Format::PySpy;
    }
    if frames().any(|f| ["_[j]", "_[0]", "_[1]"].iter().any(|s| f.ends_with(s))) {
        return Format::AsyncProfiler;
    }
    Format::Folded
}

/// `    401000 main (/usr/bin/app)`: indented, a hex address, then a symbol.
fn is_perf_frame_line(line: &str) -> bool {
    if !line.starts_with([' ', '\t']) {
        return false;
    }
    let mut words = line.split_whitespace();
    let addr = words.next().unwrap_or("");
    !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit()) && words.next().is_some()
}

/// A sample header has a `seconds.micros:` timestamp or ends with the event
/// name and a colon.
fn is_perf_header(line: &str) -> bool {
    if is_perf_frame_line(line) {
        return false;
    }
    line.split_whitespace().any(|w| {
        w.strip_suffix(':').is_some_and(|t| {
            t.split_once('.').is_some_and(|(s, us)| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && us.len() >= 6
            })
        })
    }) || line.trim_end().ends_with(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(detect(b"").unwrap(), Format::Folded);
        assert_eq!(detect(b"a;b;c 1\n").unwrap(), Format::Folded);
        assert_eq!(detect(b"a;b_[k] 1\n").unwrap(), Format::Folded);
        assert_eq!(detect(b"Worker.run_[j];x_[i] 3\n").unwrap(), Format::AsyncProfiler);
        assert_eq!(detect(b"<module> (work.py:3);burn (work.py:9) 4\n").unwrap(), Format::PySpy);
        assert_eq!(detect(b"\n  {\"shared\":{}}").unwrap(), Format::Speedscope);
        assert_eq!(detect(b"PERFILE2....").unwrap(), Format::PerfData);
        assert_eq!(detect(b"FLR\0\0\x02").unwrap(), Format::Jfr);
        let perf = "app 1001 [000] 100.000001:    1000000 cpu-clock:\n\
                    \t401000 leaf (/usr/bin/app)\n";
        assert_eq!(detect(perf.as_bytes()).unwrap(), Format::PerfScript);
    }

    #[test]
    fn random_bytes_are_unknown() {
        let err = detect(&[0u8, 1, 2, 3, 0xff, 0xfe, 0, 7]).unwrap_err();
        assert!(matches!(err, Error::UnknownFormat { .. }), "{err}");
    }
}
