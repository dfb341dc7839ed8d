//! Folded (collapsed) stack text: `root;frame;...;leaf weight`, one stack a
//! line, as Brendan Gregg's FlameGraph and inferno read it.

use std::io::{self, Write};

use crate::{Frame, FrameKind, Profile};

/// Makes a frame name safe for a folded line: a `;` would split the frame in
/// two, so it becomes `:` (the rule `stackcollapse-perf.pl` and inferno use),
/// line breaks become spaces, and surrounding blanks are trimmed. A name
/// ending in a blank and digits (`thread 140245`) would read as a count
/// when it is the leaf, so that blank becomes `_` (`thread_140245`). Other
/// control characters, which XML (and so the SVG) cannot carry, become
/// U+FFFD.
pub fn escape_frame_name(name: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = name.trim();
    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_digit());
    let number_at_end = digits.len() < trimmed.len() && digits.ends_with([' ', '\t']);
    let needs_change = |c: char| c == ';' || c.is_control() || c == '\u{fffe}' || c == '\u{ffff}';
    if !trimmed.contains(needs_change) && !number_at_end {
        return trimmed.into();
    }
    let mut out: String = trimmed
        .chars()
        .map(|c| match c {
            ';' => ':',
            '\n' | '\r' | '\t' => ' ',
            c if needs_change(c) => '\u{fffd}',
            c => c,
        })
        .collect();
    if number_at_end {
        out.replace_range(digits.len() - 1..digits.len(), "_");
    }
    out.into()
}

/// The frame as it appears in folded text: its escaped name plus the suffix
/// that marks its kind for inferno's palettes (`_[k]` kernel, `_[i]` inlined,
/// `_[j]` JIT, `_[0]` interpreted, `_[1]` C1-compiled).
pub fn folded_frame_name(frame: &Frame) -> String {
    let name = escape_frame_name(&frame.name);
    let suffix = match frame.kind {
        FrameKind::Kernel => "_[k]",
        FrameKind::Inlined => "_[i]",
        FrameKind::Jit => "_[j]",
        FrameKind::Interpreted => "_[0]",
        FrameKind::C1 => "_[1]",
        _ => "",
    };
    let mut out = String::with_capacity(name.len() + suffix.len());
    out.push_str(&name);
    out.push_str(suffix);
    out
}

impl Profile {
    /// The profile as folded lines, sorted so the same profile always gives
    /// the same bytes.
    pub fn folded_lines(&self) -> Vec<String> {
        let names: Vec<String> = self.frames().iter().map(folded_frame_name).collect();
        let mut lines: Vec<String> = self
            .stacks()
            .map(|(stack, weight)| {
                let mut line = String::new();
                for (i, id) in stack.iter().enumerate() {
                    if i > 0 {
                        line.push(';');
                    }
                    line.push_str(&names[id.0 as usize]);
                }
                line.push(' ');
                line.push_str(&weight.to_string());
                line
            })
            .collect();
        lines.sort_unstable();
        lines
    }

    /// Writes [`Profile::folded_lines`] to `out`, one a line.
    ///
    /// # Errors
    ///
    /// Whatever writing to `out` fails with.
    pub fn write_folded<W: Write>(&self, mut out: W) -> io::Result<()> {
        for line in self.folded_lines() {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolon_in_name_stays_one_frame() {
        let mut p = Profile::default();
        p.add_frames(
            [Frame::process("app"), Frame::native("<impl Default for [T; 4]>::default")],
            2,
        );
        assert_eq!(p.folded_lines(), ["app;<impl Default for [T: 4]>::default 2"]);
    }

    #[test]
    fn trailing_number_is_no_count() {
        let mut p = Profile::default();
        p.add_frames([Frame::new("thread 140245", FrameKind::Thread)], 12);
        p.add_frames([Frame::process("app 2"), Frame::native("main")], 1);
        assert_eq!(p.folded_lines(), ["app_2;main 1", "thread_140245 12"]);
    }

    #[test]
    fn control_characters_become_replacement_characters() {
        assert_eq!(escape_frame_name("a\u{1}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c d");
    }

    #[test]
    fn kinds_get_their_suffix() {
        let mut p = Profile::default();
        p.add_frames(
            [
                Frame::process("java"),
                Frame::new("Worker.run", FrameKind::Jit),
                Frame::new("copyOf", FrameKind::Inlined),
                Frame::kernel("copy_user_generic"),
            ],
            1,
        );
        assert_eq!(p.folded_lines(), ["java;Worker.run_[j];copyOf_[i];copy_user_generic_[k] 1"]);
    }

    #[test]
    fn lines_are_sorted_and_merged() {
        let mut p = Profile::default();
        p.add_frames([Frame::process("b"), Frame::native("x")], 1);
        p.add_frames([Frame::process("a"), Frame::native("y")], 1);
        p.add_frames([Frame::process("b"), Frame::native("x")], 4);
        let mut q = Profile::default();
        q.add_frames([Frame::process("a"), Frame::native("y")], 2);
        p.merge(&q);
        assert_eq!(p.folded_lines(), ["a;y 3", "b;x 5"]);
        assert_eq!(p.total(), 8);
    }
}
