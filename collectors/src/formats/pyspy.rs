//! py-spy's raw output (`py-spy record --format raw`): folded stacks whose
//! frames are `function (file.py:line)`, under an optional
//! `process PID:"command"` root (`--subprocesses`) and `thread (0xID)` node
//! (`--threads`).
//!
//! Frames with a Python file become [`FrameKind::Python`]; the process and
//! thread roots become [`FrameKind::Process`] and [`FrameKind::Thread`];
//! anything else (native frames from `--native`) stays native. Counts follow
//! the folded rules ([`folded`](super::folded)). py-spy's speedscope output
//! is read by [`speedscope`](super::speedscope).

use std::io::Read;

use firebox_model::{Frame, FrameKind, Profile};

use crate::error::Error;
use crate::formats::{folded, read_all, text, Format};

/// Settings of the py-spy raw reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How counts are read.
    pub folded: folded::Options,
}

/// Reads py-spy raw output from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails; [`Error::Malformed`] for counts no
/// profile can hold, as in [`folded::from_reader`].
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads py-spy raw output held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let text = text::decode(bytes);
    let mut profile = Profile::default();
    profile.meta.sample_type = "cpu".to_string();
    folded::read_lines(&text, &options.folded, Format::PySpy, &mut profile, &mut frame_of)?;
    Ok(profile)
}

/// The kind of one py-spy frame.
fn frame_of(name: &str) -> Frame {
    if name.starts_with("thread (") {
        return Frame::new(name, FrameKind::Thread);
    }
    if name.starts_with("process ") {
        return Frame::process(name);
    }
    if is_python(name) {
        return Frame::new(name, FrameKind::Python);
    }
    folded::kind_from_suffix(name)
}

/// `work (app.py:20)`, `<module> (/srv/app.py)`.
pub(crate) fn is_python(frame: &str) -> bool {
    let Some((_, place)) = frame.strip_suffix(')').and_then(|f| f.rsplit_once(" (")) else {
        return false;
    };
    let file = match place.rsplit_once(':') {
        Some((file, line)) if line.bytes().all(|b| b.is_ascii_digit()) => file,
        _ => place,
    };
    [".py", ".pyx", ".pyw", ".pyi"].iter().any(|ext| file.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_python_frames_get_kinds() {
        let text =
            b"process 12:\"python3 w.py\";thread (0x7F01);<module> (w.py:3);burn (w.py:9) 4\n";
        let p = from_bytes(text, &Options::default()).unwrap();
        let kinds: Vec<FrameKind> = p.frames().iter().map(|f| f.kind).collect();
        use FrameKind::*;
        assert_eq!(kinds, [Process, Thread, Python, Python]);
        assert_eq!(p.total(), 4);
    }
}
