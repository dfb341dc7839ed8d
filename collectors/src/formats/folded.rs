//! Folded stacks (Brendan Gregg's collapsed format): `root;...;leaf COUNT`,
//! one stack a line.
//!
//! The reader is lenient where other tools' files differ and strict where a
//! wrong guess would change the numbers:
//!
//! - UTF-8 and UTF-16 byte-order marks, CRLF line ends, a missing final
//!   newline, trailing blanks and blank lines are accepted.
//! - Lines that are not stacks (`# comments`, `// comments`, junk) are
//!   skipped and counted in one warning.
//! - Frames are trimmed and empty frames dropped, so `a; b` and `a;b` are
//!   the same stack and no frame starts with a space.
//! - The inferno/async-profiler kind suffixes (`_[k]`, `_[i]`, `_[j]`,
//!   `_[0]`, `_[1]`) become [`FrameKind`]s and leave the name; the folded
//!   writer puts them back, so a round trip is lossless.
//! - The count is the last blank-separated token. A frame name that ends in
//!   a number (`thread 140245 12`) is still one frame: a file is read as
//!   differential (two counts a line, the second one kept) only when asked,
//!   or when *every* stack line has two counts.
//!
//! # Counts
//!
//! Profiles hold whole weights. A fractional count (`a;b 2.5`) is truncated
//! toward zero, and the number of truncated lines is reported in one
//! warning; this is the rule for every folded input, the diff's included.
//! A negative count, or one larger than 2^64 - 1, is an error naming the
//! line: such a file is not a profile, and skipping the line would silently
//! change the shares of the rest.

use std::collections::HashMap;
use std::io::Read;

use firebox_model::{Frame, FrameId, FrameKind, Profile};

use crate::error::{Error, Position};
use crate::formats::{read_all, text, Format};

/// How a folded file's counts are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Columns {
    /// Differential only when every stack line carries two counts.
    #[default]
    Auto,
    /// One count a line; a number before it belongs to the last frame.
    Single,
    /// Two counts a line (`before after`); the second one is kept.
    Differential,
}

/// Settings of the folded reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How counts are read.
    pub columns: Columns,
}

/// Reads folded stacks from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, [`Error::Malformed`] for a negative or
/// overflowing count (naming the line).
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    let bytes = read_all(reader)?;
    from_bytes(&bytes, options)
}

/// Reads folded stacks held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let text = text::decode(bytes);
    let mut profile = Profile::default();
    read_lines(&text, options, Format::Folded, &mut profile, &mut kind_from_suffix)?;
    Ok(profile)
}

/// One parsed stack line: its frames as written and its count(s).
struct Line<'a> {
    stack: &'a str,
    count: u64,
    /// The count before `count` on a differential line.
    before: Option<(&'a str, u64)>,
}

/// What a line turned out to be.
enum Parsed<'a> {
    Stack(Line<'a>),
    Skip,
    Fraction(Line<'a>),
}

/// Splits folded `text` into stacks and adds them to `profile`, turning each
/// frame's text into a [`Frame`] with `frame_of` (the formats built on folded
/// text differ only there). Warnings are summarized once.
pub(crate) fn read_lines(
    text: &str,
    options: &Options,
    format: Format,
    profile: &mut Profile,
    frame_of: &mut dyn FnMut(&str) -> Frame,
) -> Result<(), Error> {
    let mut lines = Vec::new();
    let mut skipped = Tally::default();
    let mut fractions = Tally::default();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        match parse_line(raw).map_err(|m| Error::malformed(format, Position::Line(number), m))? {
            Parsed::Stack(line) => lines.push(line),
            Parsed::Fraction(line) => {
                fractions.note(number);
                lines.push(line);
            }
            Parsed::Skip => {
                if !raw.trim().is_empty() {
                    skipped.note(number);
                }
            }
        }
    }

    let differential = match options.columns {
        Columns::Auto => !lines.is_empty() && lines.iter().all(|l| l.before.is_some()),
        Columns::Single => false,
        Columns::Differential => true,
    };
    if differential {
        tracing::info!("every line has two counts: reading a differential file, second count");
    }

    let mut ids: HashMap<&str, FrameId> = HashMap::new();
    let mut stack = Vec::new();
    let mut total = 0u64;
    for (number, line) in lines.iter().enumerate() {
        let stack_text = match (differential, line.before) {
            (true, Some((rest, _))) => rest,
            _ => line.stack,
        };
        stack.clear();
        for name in split_frames(stack_text) {
            let id = *ids.entry(name).or_insert_with(|| profile.intern(frame_of(name)));
            stack.push(id);
        }
        total = total.checked_add(line.count).ok_or_else(|| {
            Error::malformed(
                format,
                Position::Line(number + 1),
                "the counts add up to more than 2^64 - 1",
            )
        })?;
        profile.add(&stack, line.count);
    }

    if let Some(first) = skipped.first {
        tracing::warn!(lines = skipped.count, first, "skipped lines that are not folded stacks");
    }
    if let Some(first) = fractions.first {
        tracing::warn!(
            lines = fractions.count,
            first,
            "truncated fractional counts to whole numbers"
        );
    }
    Ok(())
}

/// How many lines had some property, and the first of them.
#[derive(Default)]
struct Tally {
    count: usize,
    first: Option<usize>,
}

impl Tally {
    fn note(&mut self, line: usize) {
        self.count += 1;
        self.first.get_or_insert(line);
    }
}

/// Parses one line; `Err` holds the message for a count that no profile can
/// hold.
fn parse_line(raw: &str) -> Result<Parsed<'_>, String> {
    let line = raw.trim_end();
    if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
        return Ok(Parsed::Skip);
    }
    let Some((stack, token)) = split_last_token(line) else {
        return Ok(Parsed::Skip);
    };
    let Some(count) = parse_count(token)? else {
        return Ok(Parsed::Skip);
    };
    if split_frames(stack).next().is_none() {
        return Ok(Parsed::Skip);
    }

    // A second count before the first makes the line a candidate for a
    // differential file; whether it is one is decided for the whole file.
    let before = split_last_token(stack).and_then(|(rest, token)| match parse_count(token) {
        Ok(Some(Count::Whole(n))) if !rest.trim().is_empty() => Some((rest, n)),
        _ => None,
    });
    let make = |count| Line { stack, count, before };
    Ok(match count {
        Count::Whole(n) => Parsed::Stack(make(n)),
        Count::Truncated(n) => Parsed::Fraction(make(n)),
    })
}

/// The frames of a stack, trimmed, empty ones dropped.
///
/// A `;` that is followed by a blank while a `[` of the frame is still open
/// is part of the name, not a separator: demangled Rust array types such as
/// `<impl Default for [T; 4]>` reach folded files unescaped from other tools.
pub(crate) fn split_frames(stack: &str) -> impl Iterator<Item = &str> {
    let bytes = stack.as_bytes();
    let mut start = 0;
    let mut open = 0usize;
    let mut at = 0;
    std::iter::from_fn(move || {
        while at <= bytes.len() {
            let i = at;
            at += 1;
            let end = match bytes.get(i) {
                None => true,
                Some(b'[') => {
                    open += 1;
                    false
                }
                Some(b']') => {
                    open = open.saturating_sub(1);
                    false
                }
                Some(b';') => open == 0 || !matches!(bytes.get(i + 1), Some(b' ')),
                Some(_) => false,
            };
            if end {
                let frame = stack[start..i].trim();
                start = i + 1;
                open = 0;
                if !frame.is_empty() {
                    return Some(frame);
                }
            }
        }
        None
    })
}

/// Splits off the last blank-separated token.
fn split_last_token(line: &str) -> Option<(&str, &str)> {
    let at = line.rfind([' ', '\t'])?;
    let (stack, token) = (line[..at].trim_end(), &line[at + 1..]);
    (!stack.is_empty() && !token.is_empty()).then_some((stack, token))
}

/// A count as written.
#[derive(Debug, PartialEq)]
enum Count {
    Whole(u64),
    /// A fraction, already truncated.
    Truncated(u64),
}

/// Reads a count token: `Ok(None)` when it is no number at all (the line is
/// junk), `Err` when it is a number no profile can hold.
fn parse_count(token: &str) -> Result<Option<Count>, String> {
    let (negative, digits) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_none_or(str::is_empty)
        || !is_digits(whole)
        || !fraction.is_none_or(is_digits)
    {
        return Ok(None);
    }
    if negative {
        return Err(format!("negative count {token}; counts in a profile are never below zero"));
    }

    let value = if whole.is_empty() { Ok(0) } else { whole.parse::<u64>() };
    let value = value.map_err(|_| format!("count {token} is larger than 2^64 - 1"))?;
    Ok(Some(match fraction {
        Some(f) if f.bytes().any(|b| b != b'0') => Count::Truncated(value),
        _ => Count::Whole(value),
    }))
}

/// A frame of folded text: the kind suffixes inferno's palettes and
/// async-profiler's `-a` output use become kinds, other frames are native.
pub(crate) fn kind_from_suffix(name: &str) -> Frame {
    const SUFFIXES: [(&str, FrameKind); 5] = [
        ("_[k]", FrameKind::Kernel),
        ("_[i]", FrameKind::Inlined),
        ("_[j]", FrameKind::Jit),
        ("_[0]", FrameKind::Interpreted),
        ("_[1]", FrameKind::C1),
    ];
    for (suffix, kind) in SUFFIXES {
        if let Some(base) = name.strip_suffix(suffix) {
            if !base.is_empty() {
                return Frame::new(base, kind);
            }
        }
    }
    Frame::native(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> Vec<String> {
        from_bytes(text.as_bytes(), &Options::default()).unwrap().folded_lines()
    }

    #[test]
    fn counts_merge_per_stack() {
        assert_eq!(
            folded("a;b;c 1\na;b;c 1\na;b;d 4\na;b;c 3\na;b 5\n"),
            ["a;b 5", "a;b;c 5", "a;b;d 4"]
        );
    }

    #[test]
    fn fractions_truncate() {
        assert_eq!(folded("a;b 2.5\na;c 1.0\na;d .5\n"), ["a;b 2", "a;c 1"]);
    }

    #[test]
    fn negative_count_names_its_line() {
        let err = from_bytes(b"a;b 1\na;c -3\n", &Options::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2") && text.contains("-3"), "{text}");
    }

    #[test]
    fn overflowing_count_is_an_error() {
        let err = from_bytes(b"a;b 18446744073709551616\n", &Options::default()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = from_bytes(b"a 18446744073709551615\nb 1\n", &Options::default()).unwrap_err();
        assert!(err.to_string().contains("add up"), "{err}");
    }

    #[test]
    fn number_ending_a_frame_is_no_second_count() {
        let text = "thread 140245 12\nthread 140245;main (app.py:10) 7\n";
        // The writer keeps the frame from reading as a count again.
        assert_eq!(folded(text), ["thread_140245 12", "thread_140245;main (app.py:10) 7"]);
    }

    #[test]
    fn all_lines_with_two_counts_are_differential() {
        assert_eq!(folded("a;b 3 5\na;c 4 0\n"), ["a;b 5"]);
        let single = Options { columns: Columns::Single };
        let p = from_bytes(b"a;b 3 5\n", &single).unwrap();
        assert_eq!(p.frames()[1].name, "b 3");
        assert_eq!(p.folded_lines(), ["a;b_3 5"]);
    }

    #[test]
    fn suffixes_become_kinds() {
        let p =
            from_bytes(b"Worker.run_[j];copy_[k];x_[1];y_[0];z_[i];_[k] 1\n", &Options::default())
                .unwrap();
        let kinds: Vec<FrameKind> = p.frames().iter().map(|f| f.kind).collect();
        use FrameKind::*;
        assert_eq!(kinds, [Jit, Kernel, C1, Interpreted, Inlined, Native]);
        assert_eq!(p.frames()[0].name, "Worker.run");
        assert_eq!(p.folded_lines(), ["Worker.run_[j];copy_[k];x_[1];y_[0];z_[i];_[k] 1"]);
    }

    #[test]
    fn frames_are_trimmed() {
        assert_eq!(
            folded("app;main;core::array::<impl Default for [T; 4]>::default 3\n"),
            ["app;main;core::array::<impl Default for [T: 4]>::default 3"]
        );
    }
}
