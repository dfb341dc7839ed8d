//! Gzipped profile.proto out, as `go tool pprof` reads it.
//!
//! Every frame becomes a function (name, file, start line from its
//! [`FrameDetail`](firebox_model::FrameDetail)); a frame and the inlined
//! frames above it share one location, innermost line first, so inlining
//! survives a round trip. Modules become mappings with their build-ids.
//! Locations carry no addresses (address 0) and mappings say
//! `has_functions`, so pprof does not try to symbolize them again.
//!
//! Sample types: a profile counted in `samples` at a known period is written
//! as `samples/count` and `cpu/nanoseconds` (period times count), as Go's
//! CPU profiles are; any other profile as its own type and unit.

use std::collections::HashMap;
use std::io::{self, Write};

use firebox_collectors::formats::pprof::proto;
use firebox_model::{FrameId, FrameKind, Profile};
use prost::Message;

/// Writes `profile` as gzipped profile.proto.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write<W: Write>(profile: &Profile, out: W) -> io::Result<()> {
    let bytes = to_proto(profile).encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()
}

/// The profile.proto message for `profile`.
pub fn to_proto(profile: &Profile) -> proto::Profile {
    let mut builder = Builder::default();
    builder.strings.index("");
    let meta = &profile.meta;

    let cpu_period = meta.period_ns.filter(|_| meta.unit == "samples");
    let mut message = proto::Profile::default();
    match cpu_period {
        Some(period) => {
            let count = builder.value_type("samples", "count");
            let cpu = builder.value_type("cpu", "nanoseconds");
            message.sample_type = vec![count, cpu];
            message.period_type = Some(cpu);
            message.period = i64::try_from(period).unwrap_or(i64::MAX);
        }
        None => {
            let unit = if meta.unit == "samples" { "count" } else { meta.unit.as_str() };
            let own = builder.value_type(&meta.sample_type, unit);
            message.sample_type = vec![own];
            message.period_type = Some(own);
            message.period = 1;
        }
    }
    if let Some(duration) = meta.duration {
        message.duration_nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
    }

    // Sorted stacks make the bytes the same for the same profile.
    let mut stacks: Vec<(&[FrameId], u64)> = profile.stacks().collect();
    stacks.sort_unstable();
    for (stack, weight) in stacks {
        let mut location_id = Vec::new();
        let mut start = 0;
        while start < stack.len() {
            // A frame plus the inlined frames right above it (leafward).
            let mut end = start + 1;
            while end < stack.len() && profile.frame(stack[end]).kind == FrameKind::Inlined {
                end += 1;
            }
            location_id.push(builder.location(profile, &stack[start..end]));
            start = end;
        }
        location_id.reverse();
        let weight = i64::try_from(weight).unwrap_or(i64::MAX);
        let value = match cpu_period {
            Some(period) => {
                vec![weight, weight.saturating_mul(i64::try_from(period).unwrap_or(i64::MAX))]
            }
            None => vec![weight],
        };
        message.sample.push(proto::Sample { location_id, value, label: Vec::new() });
    }

    message.mapping = builder.mappings;
    message.location = builder.locations;
    message.function = builder.functions;
    message.string_table = builder.strings.table;
    message
}

/// Interned strings of the string table.
#[derive(Default)]
struct Strings {
    table: Vec<Vec<u8>>,
    ids: HashMap<String, i64>,
}

impl Strings {
    fn index(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.table.len() as i64;
        self.table.push(s.as_bytes().to_vec());
        self.ids.insert(s.to_string(), id);
        id
    }
}

/// The tables of a profile.proto being built.
#[derive(Default)]
struct Builder {
    strings: Strings,
    functions: Vec<proto::Function>,
    function_ids: HashMap<FrameId, u64>,
    locations: Vec<proto::Location>,
    location_ids: HashMap<Vec<FrameId>, u64>,
    mappings: Vec<proto::Mapping>,
    mapping_ids: HashMap<(String, String), u64>,
}

impl Builder {
    fn value_type(&mut self, kind: &str, unit: &str) -> proto::ValueType {
        proto::ValueType { r#type: self.strings.index(kind), unit: self.strings.index(unit) }
    }

    /// The location of `frames`, root-most first: the first is the caller,
    /// the rest were inlined into it.
    fn location(&mut self, profile: &Profile, frames: &[FrameId]) -> u64 {
        if let Some(&id) = self.location_ids.get(frames) {
            return id;
        }
        let line = frames
            .iter()
            .rev()
            .map(|&frame| proto::Line {
                function_id: self.function(profile, frame),
                line: profile.detail(frame).and_then(|d| d.line).map_or(0, i64::from),
                column: 0,
            })
            .collect();
        let mapping_id = self.mapping(profile, frames[0]);
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location { id, mapping_id, address: 0, line, is_folded: false });
        self.location_ids.insert(frames.to_vec(), id);
        id
    }

    fn function(&mut self, profile: &Profile, frame: FrameId) -> u64 {
        if let Some(&id) = self.function_ids.get(&frame) {
            return id;
        }
        let detail = profile.detail(frame);
        let name = self.strings.index(&profile.frame(frame).name);
        // A kernel frame's file is the kernel, as perf names it, so that
        // readers (firebox's among them) know it again; a mapping would
        // make `go tool pprof` take the kernel for the main binary.
        let kernel = profile.frame(frame).kind == FrameKind::Kernel;
        let file = detail.and_then(|d| d.file.as_deref()).unwrap_or(if kernel {
            KERNEL_MAPPING
        } else {
            ""
        });
        let id = self.functions.len() as u64 + 1;
        self.functions.push(proto::Function {
            id,
            name,
            system_name: name,
            filename: self.strings.index(file),
            start_line: 0,
        });
        self.function_ids.insert(frame, id);
        id
    }

    fn mapping(&mut self, profile: &Profile, frame: FrameId) -> u64 {
        let detail = profile.detail(frame);
        let Some(module) = detail.and_then(|d| d.module.clone()) else {
            return 0;
        };
        let build_id = detail.and_then(|d| d.build_id.clone()).unwrap_or_default();
        if let Some(&id) = self.mapping_ids.get(&(module.clone(), build_id.clone())) {
            return id;
        }
        let id = self.mappings.len() as u64 + 1;
        self.mappings.push(proto::Mapping {
            id,
            filename: self.strings.index(&module),
            build_id: self.strings.index(&build_id),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
            ..proto::Mapping::default()
        });
        self.mapping_ids.insert((module, build_id), id);
        id
    }
}

/// The module name perf gives the kernel, written as kernel frames' file.
const KERNEL_MAPPING: &str = "[kernel.kallsyms]";

#[cfg(test)]
mod tests {
    use super::*;
    use firebox_collectors::formats::pprof as reader;
    use firebox_model::{Frame, FrameDetail};

    #[test]
    fn written_profile_reads_back_the_same() {
        let mut p = Profile::default();
        p.meta.period_ns = Some(10_101_010);
        let main = p.intern(Frame::new("main.main", FrameKind::Go));
        let inl = p.intern(Frame::new("main.add", FrameKind::Inlined));
        let read = p.intern(Frame::kernel("vfs_read"));
        let detail = FrameDetail {
            file: Some("/src/main.go".into()),
            line: Some(12),
            module: Some("/bin/app".into()),
            build_id: Some("abcd".into()),
        };
        p.set_detail(main, detail.clone());
        p.set_detail(inl, detail);
        p.add(&[main, inl], 3);
        p.add(&[main, read], 2);

        let bytes = to_proto(&p).encode_to_vec();
        let options =
            reader::Options { sample_type: reader::SampleType::Index(0), ..Default::default() };
        let back = reader::from_bytes(&bytes, &options).unwrap();
        assert_eq!(back.folded_lines(), ["main.main;main.add_[i] 3", "main.main;vfs_read_[k] 2"]);
        let cpu = reader::from_bytes(&bytes, &reader::Options::default()).unwrap();
        assert_eq!(cpu.total(), 5 * 10_101_010);
        assert_eq!(cpu.meta.unit, "nanoseconds");
        let id = back.frames().iter().position(|f| f.name == "main.main").unwrap();
        let detail = back.detail(FrameId(id as u32)).unwrap();
        assert_eq!(detail.build_id.as_deref(), Some("abcd"));
        assert_eq!(detail.line, Some(12));
    }
}
