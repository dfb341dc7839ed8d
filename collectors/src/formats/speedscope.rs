//! speedscope's JSON file format (`https://www.speedscope.app/file-format-schema.json`),
//! sampled and evented profiles, as speedscope, py-spy (`--format
//! speedscope`), rbspy and others write it.
//!
//! Stacks are root-first indices into the shared frame table. When a file
//! holds several profiles (py-spy writes one per thread), each profile's
//! name becomes a [`FrameKind::Thread`] root, so they stay apart in one
//! graph. Frames whose file is Python source are [`FrameKind::Python`];
//! those in `[kernel.kallsyms]` or `[jit]` (as firebox writes kernel and JIT
//! frames) are kernel and JIT frames.
//!
//! # Weights
//!
//! Profiles hold whole weights, so time units are converted to nanoseconds
//! (`0.01` seconds is 10 000 000) and other values (`bytes`, `none`) are
//! rounded to the nearest whole number; `none` is read as `samples`. All
//! profiles of a file must share a unit family; the first one's is kept.
//!
//! # Damaged profiles
//!
//! A profile whose `weights` and `samples` differ in length, that names a
//! frame the table lacks or that closes a frame it never opened is skipped
//! with a warning naming what was wrong, and the other profiles are read. An
//! `endValue` that disagrees with the sum of the weights is a warning only.
//! A negative or non-finite weight is an error.

use std::io::Read;

use firebox_model::{Frame, FrameDetail, FrameId, FrameKind, Profile};
use serde::Deserialize;

use crate::error::{Error, Position};
use crate::formats::{read_all, text, Format};

/// Settings of the speedscope reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Read only the profile at this index (0-based) instead of all.
    pub profile: Option<usize>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    shared: Shared,
    #[serde(default)]
    profiles: Vec<RawProfile>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct Shared {
    #[serde(default)]
    frames: Vec<RawFrame>,
}

#[derive(Deserialize)]
struct RawFrame {
    name: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<i64>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum RawProfile {
    #[serde(rename = "sampled")]
    Sampled {
        #[serde(default)]
        name: String,
        #[serde(default = "none_unit")]
        unit: String,
        #[serde(default, rename = "endValue")]
        end_value: Option<f64>,
        #[serde(default, rename = "startValue")]
        start_value: Option<f64>,
        samples: Vec<Vec<usize>>,
        weights: Vec<f64>,
    },
    #[serde(rename = "evented")]
    Evented {
        #[serde(default)]
        name: String,
        #[serde(default = "none_unit")]
        unit: String,
        #[serde(default, rename = "endValue")]
        end_value: Option<f64>,
        events: Vec<Event>,
    },
}

fn none_unit() -> String {
    "none".to_string()
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    frame: usize,
    at: f64,
}

/// The `file` of kernel frames in speedscope files firebox writes: perf's
/// name for the kernel's module.
const KERNEL_MODULE: &str = "[kernel.kallsyms]";
/// The `file` of JIT frames in speedscope files firebox writes.
const JIT_MODULE: &str = "[jit]";

/// The module a speedscope file names in `file` for a frame of `kind` that
/// has no source file, so that the kind survives the trip: kernel and JIT
/// frames.
pub fn module_of(kind: FrameKind) -> Option<&'static str> {
    match kind {
        FrameKind::Kernel => Some(KERNEL_MODULE),
        FrameKind::Jit => Some(JIT_MODULE),
        _ => None,
    }
}

/// Reads a speedscope file from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, [`Error::Malformed`] with line and
/// column for JSON that is not a speedscope file, or for negative weights.
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads a speedscope file held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let text = text::decode(bytes);
    let file: File = serde_json::from_str(&text).map_err(|e| {
        let at = match e.line() {
            0 => Position::Unknown,
            line => Position::LineColumn(line, e.column()),
        };
        Error::malformed(Format::Speedscope, at, json_message(&e))
    })?;

    let mut profile = Profile::default();
    profile.meta.title = file.name.clone();
    let frames: Vec<FrameId> = file
        .shared
        .frames
        .iter()
        .map(|raw| {
            let kind = match raw.file.as_deref() {
                Some(KERNEL_MODULE) => FrameKind::Kernel,
                Some(JIT_MODULE) => FrameKind::Jit,
                Some(file) if file.ends_with(".py") => FrameKind::Python,
                _ => FrameKind::Native,
            };
            let id = profile.intern(Frame::new(raw.name.trim(), kind));
            let detail = FrameDetail {
                file: raw.file.clone(),
                line: raw.line.and_then(|l| u32::try_from(l).ok()),
                ..FrameDetail::default()
            };
            profile.set_detail(id, detail);
            id
        })
        .collect();

    let several = file.profiles.len() > 1 && options.profile.is_none();
    let mut unit_set = false;
    for (index, raw) in file.profiles.iter().enumerate() {
        if options.profile.is_some_and(|wanted| wanted != index) {
            continue;
        }
        let (name, unit) = match raw {
            RawProfile::Sampled { name, unit, .. } | RawProfile::Evented { name, unit, .. } => {
                (name, unit)
            }
        };
        let scale = Scale::of(unit);
        if !unit_set {
            profile.meta.unit = scale.unit.to_string();
            unit_set = true;
        } else if profile.meta.unit != scale.unit {
            tracing::warn!(profile = index, unit = %unit, "skipped a profile in another unit");
            continue;
        }
        let root = several.then(|| {
            let label = if name.is_empty() { format!("profile {index}") } else { name.clone() };
            profile.intern(Frame::new(label, FrameKind::Thread))
        });
        let stacks = match raw {
            RawProfile::Sampled { samples, weights, end_value, start_value, .. } => {
                sampled(samples, weights, (*start_value, *end_value), index, &scale)?
            }
            RawProfile::Evented { events, end_value, .. } => evented(events, *end_value, &scale)?,
        };
        let stacks = match stacks {
            Ok(stacks) => stacks,
            Err(why) => {
                tracing::warn!(profile = index, name = %name, "skipped a damaged profile: {why}");
                continue;
            }
        };
        let mut stack = Vec::new();
        for (indices, weight) in stacks {
            stack.clear();
            stack.extend(root);
            for i in indices {
                match frames.get(i) {
                    Some(&id) => stack.push(id),
                    None => {
                        tracing::warn!(
                            profile = index,
                            frame = i,
                            "skipped a sample naming a frame the file lacks"
                        );
                        stack.clear();
                        break;
                    }
                }
            }
            profile.add(&stack, weight);
        }
    }
    Ok(profile)
}

/// serde's message without its own ` at line N column M` suffix, which the
/// position already says.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// How a speedscope unit maps onto whole weights.
struct Scale {
    unit: &'static str,
    factor: f64,
}

impl Scale {
    fn of(unit: &str) -> Scale {
        let (unit, factor) = match unit {
            "seconds" => ("nanoseconds", 1e9),
            "milliseconds" => ("nanoseconds", 1e6),
            "microseconds" => ("nanoseconds", 1e3),
            "nanoseconds" => ("nanoseconds", 1.0),
            "bytes" => ("bytes", 1.0),
            _ => ("samples", 1.0),
        };
        Scale { unit, factor }
    }

    fn weight(&self, value: f64) -> Option<u64> {
        let scaled = (value * self.factor).round();
        (scaled.is_finite() && scaled >= 0.0 && scaled < u64::MAX as f64).then_some(scaled as u64)
    }
}

type Stacks = Vec<(Vec<usize>, u64)>;

/// The stacks of a sampled profile; the outer `Err` is fatal, the inner one
/// skips this profile.
fn sampled(
    samples: &[Vec<usize>],
    weights: &[f64],
    (start, end): (Option<f64>, Option<f64>),
    index: usize,
    scale: &Scale,
) -> Result<Result<Stacks, String>, Error> {
    if samples.len() != weights.len() {
        return Ok(Err(format!("{} weights for {} samples", weights.len(), samples.len())));
    }
    let mut out = Vec::with_capacity(samples.len());
    let mut sum = 0.0;
    for (number, (sample, &weight)) in samples.iter().zip(weights).enumerate() {
        let value = scale.weight(weight).ok_or_else(|| {
            let message = format!("profile {index} sample {number} has the weight {weight}");
            Error::malformed(Format::Speedscope, Position::Unknown, message)
        })?;
        sum += weight;
        out.push((sample.clone(), value));
    }
    if let Some(end) = end {
        let span = end - start.unwrap_or(0.0);
        if (span - sum).abs() > 1e-6 * sum.abs().max(1.0) {
            tracing::warn!(
                profile = index,
                span,
                weights = sum,
                "endValue disagrees with the weights"
            );
        }
    }
    Ok(Ok(out))
}

/// The stacks of an evented profile: the time between two events goes to
/// the frames open between them.
fn evented(
    events: &[Event],
    end: Option<f64>,
    scale: &Scale,
) -> Result<Result<Stacks, String>, Error> {
    let mut open: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut last: Option<f64> = None;
    let mut add = |open: &Vec<usize>, from: Option<f64>, to: f64| {
        if let (Some(from), false) = (from, open.is_empty()) {
            if let Some(w) = scale.weight(to - from).filter(|&w| w > 0) {
                out.push((open.clone(), w));
            }
        }
    };
    for event in events {
        if last.is_some_and(|l| event.at < l) || !event.at.is_finite() {
            return Ok(Err(format!("events go back in time at {}", event.at)));
        }
        add(&open, last, event.at);
        last = Some(event.at);
        match event.kind.as_str() {
            "O" => open.push(event.frame),
            "C" => match open.pop() {
                Some(frame) if frame == event.frame => {}
                _ => return Ok(Err(format!("frame {} closed but not open", event.frame))),
            },
            other => return Ok(Err(format!("unknown event type `{other}`"))),
        }
    }
    if let Some(end) = end {
        add(&open, last, end);
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evented_time_goes_to_open_frames() {
        let json = br#"{"shared":{"frames":[{"name":"main"},{"name":"work"}]},
            "profiles":[{"type":"evented","name":"t","unit":"milliseconds","startValue":0,"endValue":10,
            "events":[{"type":"O","frame":0,"at":0},{"type":"O","frame":1,"at":2},
                      {"type":"C","frame":1,"at":7},{"type":"C","frame":0,"at":10}]}]}"#;
        let p = from_bytes(json, &Options::default()).unwrap();
        assert_eq!(p.folded_lines(), ["main 5000000", "main;work 5000000"]);
        assert_eq!(p.meta.unit, "nanoseconds");
    }
}
