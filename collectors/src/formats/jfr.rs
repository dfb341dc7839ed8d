//! Java Flight Recorder recordings (`.jfr`), as the JDK's own recorder
//! (`java -XX:StartFlightRecording`, `jcmd JFR.start`) and async-profiler
//! write them: `jdk.ExecutionSample` events (and, if asked,
//! `jdk.NativeMethodSample`) become stacks of `package.Class.method` frames
//! with line numbers in their [`FrameDetail`], kinds from the frame types
//! (interpreted, JIT compiled, inlined, native).
//!
//! # Why not the `jfrs` crate
//!
//! `jfrs` reads JDK 17 recordings correctly, but it trusts the sizes it
//! reads: a damaged chunk size makes it allocate that many bytes and the
//! process aborts, and damaged recordings can keep it busy without end. A
//! reader of files from elsewhere must fail with a message instead, so this
//! one (module `chunk`) checks every length against the bytes that are
//! there, refuses event sizes of zero, bounds nesting and constant pool
//! chains, and names the byte offset where a recording broke.
//!
//! Stacks the recorder cut short (`truncated`) get a `[truncated]` root so
//! they do not pose as complete stacks.

mod chunk;

use std::collections::HashMap;
use std::io::Read;

use firebox_model::{Frame, FrameDetail, FrameId, FrameKind, Profile};

use crate::error::{Error, Position};
use crate::formats::{read_all, Format};

/// Settings of the JFR reader.
#[derive(Clone, Debug)]
pub struct Options {
    /// The event types whose stacks are read.
    pub events: Vec<String>,
    /// Put each thread's samples under a root frame of its name.
    pub threads: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { events: vec!["jdk.ExecutionSample".to_string()], threads: false }
    }
}

/// Reads a JFR recording from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, [`Error::Malformed`] naming the byte
/// offset where the recording does not decode.
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads a JFR recording held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let wanted: Vec<&str> = options.events.iter().map(String::as_str).collect();
    let mut profile = Profile::default();
    profile.meta.sample_type = options.events.join("+");
    let mut duration = 0i64;
    let mut start = 0;
    if bytes.is_empty() {
        return Err(Error::malformed(Format::Jfr, Position::Byte(0), "the file is empty"));
    }
    while start < bytes.len() {
        let (chunk, size) = chunk::read(bytes, start, &wanted)
            .map_err(|b| Error::malformed(Format::Jfr, Position::Byte(b.at as u64), b.message))?;
        duration = duration.saturating_add(chunk.duration_nanos.max(0));
        Folder::new(&chunk, options, &mut profile).fold();
        start += size;
    }
    profile.meta.duration = Some(std::time::Duration::from_nanos(duration.max(0) as u64));
    Ok(profile)
}

/// Turns one chunk's events into stacks.
struct Folder<'c, 'p> {
    chunk: &'c chunk::Chunk,
    options: &'c Options,
    profile: &'p mut Profile,
    /// Stack traces by constant pool key, root first.
    stacks: HashMap<i64, Option<Vec<FrameId>>>,
}

impl<'c, 'p> Folder<'c, 'p> {
    fn new(chunk: &'c chunk::Chunk, options: &'c Options, profile: &'p mut Profile) -> Self {
        Folder { chunk, options, profile, stacks: HashMap::new() }
    }

    fn fold(&mut self) {
        let chunk = self.chunk;
        let mut unreadable = 0usize;
        for (_, event) in &chunk.events {
            // Samples share stack traces through the constant pool; each
            // pooled trace is turned into frames once.
            let key = field_ref(event, chunk);
            let cached = key.and_then(|k| self.stacks.get(&k).cloned());
            let stack = match cached {
                Some(stack) => stack,
                None => {
                    let stack = self.stack(event);
                    if let Some(key) = key {
                        self.stacks.insert(key, stack.clone());
                    }
                    stack
                }
            };
            let Some(stack) = stack else {
                unreadable += 1;
                continue;
            };
            let mut full = Vec::with_capacity(stack.len() + 1);
            if self.options.threads {
                let name = chunk
                    .field(event, "sampledThread")
                    .and_then(|t| chunk.field(t, "javaName").or_else(|| chunk.field(t, "osName")))
                    .and_then(|n| chunk.text(n))
                    .unwrap_or("[unknown thread]");
                full.push(self.profile.intern(Frame::new(name, FrameKind::Thread)));
            }
            full.extend_from_slice(&stack);
            self.profile.add(&full, 1);
        }
        if unreadable > 0 {
            tracing::warn!(events = unreadable, "skipped samples whose stack trace is missing");
        }
    }

    /// The frames of an event's stack trace, root first.
    fn stack(&mut self, event: &chunk::Value) -> Option<Vec<FrameId>> {
        let chunk = self.chunk;
        let trace = chunk.field(event, "stackTrace")?;
        let truncated =
            chunk.field(trace, "truncated").and_then(|t| chunk.int(t)).unwrap_or(0) != 0;
        let chunk::Value::Array(frames) = chunk.field(trace, "frames")? else {
            return None;
        };
        let mut stack = Vec::with_capacity(frames.len() + 1);
        if truncated {
            stack.push(self.profile.intern(Frame::new("[truncated]", FrameKind::Marker)));
        }
        for frame in frames.iter().rev() {
            stack.push(self.frame(frame));
        }
        Some(stack)
    }

    fn frame(&mut self, frame: &chunk::Value) -> FrameId {
        let chunk = self.chunk;
        let method = chunk.field(frame, "method");
        let class = method
            .and_then(|m| chunk.field(m, "type"))
            .and_then(|c| chunk.field(c, "name"))
            .and_then(|n| chunk.text(n))
            .map(|n| n.replace('/', "."));
        let name = method.and_then(|m| chunk.field(m, "name")).and_then(|n| chunk.text(n));
        let full = match (class, name) {
            (Some(class), Some(name)) => format!("{class}.{name}"),
            (None, Some(name)) => name.to_string(),
            _ => "[unknown]".to_string(),
        };
        let kind = match chunk
            .field(frame, "type")
            .and_then(|t| chunk.field(t, "description").or(Some(t)))
            .and_then(|d| chunk.text(d))
        {
            Some("Interpreted") => FrameKind::Interpreted,
            Some("JIT compiled") => FrameKind::Jit,
            Some("Inlined") => FrameKind::Inlined,
            Some("C1 compiled") => FrameKind::C1,
            Some("Kernel") => FrameKind::Kernel,
            _ => FrameKind::Native,
        };
        let line = chunk.field(frame, "lineNumber").and_then(|l| chunk.int(l));
        let id = self.profile.intern(Frame::new(full, kind));
        if let Some(line) = line.and_then(|l| u32::try_from(l).ok()).filter(|&l| l > 0) {
            self.profile.set_detail(id, FrameDetail { line: Some(line), ..FrameDetail::default() });
        }
        id
    }
}

/// The constant pool key of an event's `stackTrace` field, when pooled.
fn field_ref(event: &chunk::Value, chunk: &chunk::Chunk) -> Option<i64> {
    let chunk::Value::Object(class, fields) = event else {
        return None;
    };
    let index = chunk.classes.get(class)?.fields.iter().position(|f| f.name == "stackTrace")?;
    match fields.get(index)? {
        chunk::Value::Ref(_, key) => Some(*key),
        _ => None,
    }
}
