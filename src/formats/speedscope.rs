//! speedscope's JSON file format out: one sampled profile, frames with
//! their file and line when known, stacks sorted.
//!
//! speedscope frames have no kind; kernel and JIT frames without a source
//! file name their module in `file` instead, as perf names them
//! (`[kernel.kallsyms]`, `[jit]`), which speedscope shows beside the name
//! and firebox's reader turns back into the kind.

use std::io::{self, Write};

use firebox_model::{FrameId, Profile};
use serde_json::{json, Value};

/// The schema URL speedscope files name.
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes `profile` as a speedscope file.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write<W: Write>(profile: &Profile, out: W) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    serde_json::to_writer(&mut out, &to_json(profile))?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The speedscope document for `profile`.
pub fn to_json(profile: &Profile) -> Value {
    let frames: Vec<Value> = profile
        .frames()
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            let mut entry = json!({ "name": frame.name });
            if let Some(module) = firebox_collectors::formats::speedscope::module_of(frame.kind) {
                entry["file"] = json!(module);
            }
            if let Some(detail) = profile.detail(FrameId(i as u32)) {
                if let Some(file) = &detail.file {
                    entry["file"] = json!(file);
                }
                if let Some(line) = detail.line {
                    entry["line"] = json!(line);
                }
            }
            entry
        })
        .collect();

    let mut stacks: Vec<(&[FrameId], u64)> = profile.stacks().collect();
    stacks.sort_unstable();
    let samples: Vec<Vec<u32>> =
        stacks.iter().map(|(s, _)| s.iter().map(|id| id.0).collect()).collect();
    let weights: Vec<u64> = stacks.iter().map(|(_, w)| *w).collect();
    let unit = match profile.meta.unit.as_str() {
        unit @ ("nanoseconds" | "microseconds" | "milliseconds" | "seconds" | "bytes") => unit,
        _ => "none",
    };
    let name = profile.meta.title.clone().unwrap_or_else(|| profile.meta.sample_type.clone());
    json!({
        "$schema": SCHEMA,
        "exporter": concat!("firebox ", env!("CARGO_PKG_VERSION")),
        "name": name,
        "activeProfileIndex": 0,
        "shared": { "frames": frames },
        "profiles": [{
            "type": "sampled",
            "name": name,
            "unit": unit,
            "startValue": 0,
            "endValue": profile.total(),
            "samples": samples,
            "weights": weights,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebox_collectors::formats::speedscope::{from_bytes, Options};
    use firebox_model::{Frame, FrameKind};

    #[test]
    fn kernel_and_jit_kinds_come_back() {
        let mut profile = Profile::default();
        let stack = [
            Frame::native("main"),
            Frame::new("Interpreter", FrameKind::Jit),
            Frame::new("do_syscall_64", FrameKind::Kernel),
        ];
        profile.add_frames(stack.to_vec(), 3);
        let mut bytes = Vec::new();
        write(&profile, &mut bytes).unwrap();
        let read = from_bytes(&bytes, &Options::default()).unwrap();
        let stacks: Vec<(Vec<Frame>, u64)> = read
            .stacks()
            .map(|(ids, n)| (ids.iter().map(|id| read.frame(*id).clone()).collect(), n))
            .collect();
        assert_eq!(stacks, vec![(stack.to_vec(), 3)]);
    }
}
