//! Google's pprof format (`profile.proto`), gzipped or plain, as Go's
//! runtime/pprof and many other profilers write it.
//!
//! One sample type becomes the profile's weight ([`SampleType`]; by default
//! the one `go tool pprof` shows: `default_sample_type`, else the last).
//! Each location expands into its inlined functions, the caller first, the
//! inlined ones marked [`FrameKind::Inlined`]; functions from `.go` files are
//! [`FrameKind::Go`]. Locations without function information become address
//! frames (`0x4a3f20`, or `libc.so.6+0x4a3f20` when the mapping names its
//! file). File, line, module and build-id go into the frame's
//! [`FrameDetail`]. Sample labels can become root frames
//! ([`Options::group_by`]).
//!
//! # Broken references
//!
//! A location whose `mapping_id` names no mapping is read as unmapped; a line
//! whose function does not exist is ignored. A sample that refers to a
//! location that does not exist (id 0 included) is dropped. Each of these is
//! counted and reported in one warning, with the value dropped.

pub mod proto;
mod wire;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::str::FromStr;

use firebox_model::{Frame, FrameDetail, FrameId, FrameKind, Profile};
use prost::Message;

use crate::error::{Error, Position};
use crate::formats::{detect, read_all, Format};

pub(crate) use self::wire::looks_like_pprof;
use self::wire::{broken_field, field_len, Fields};

/// Which of a profile's sample types to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SampleType {
    /// `default_sample_type` when set, else the last type (what `go tool
    /// pprof` shows).
    #[default]
    Default,
    /// The type with this name (`alloc_space`, `cpu`).
    Name(String),
    /// The type at this 0-based index.
    Index(usize),
}

impl FromStr for SampleType {
    type Err = std::convert::Infallible;

    /// A number is an index, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(index) => SampleType::Index(index),
            Err(_) => SampleType::Name(s.to_string()),
        })
    }
}

/// Settings of the pprof reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The sample type whose values become weights.
    pub sample_type: SampleType,
    /// A label key whose value becomes each sample's root frame
    /// (`key=value`; `[no key]` for samples without it).
    pub group_by: Option<String>,
}

/// Reads a pprof profile, gzipped or not, from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, [`Error::Gzip`] for a broken gzip
/// stream, [`Error::Malformed`] for bytes that are not a profile.proto or
/// values that no profile can hold, [`Error::Unsatisfied`] when the asked
/// sample type is not in the file.
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads a pprof profile held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let inflated;
    let bytes = if detect::is_gzip(bytes) {
        inflated = crate::formats::gunzip(bytes)?;
        &inflated[..]
    } else {
        bytes
    };
    // Samples are decoded one at a time while folding, so a profile of
    // millions of samples never exists as millions of messages at once.
    let (message, samples) = split(bytes)?;
    build(&message, &samples, options)
}

/// A sample message not yet decoded: its offset in the input and its bytes.
type SampleBytes<'a> = (usize, &'a [u8]);

/// The profile without its samples, and where each sample message lies.
fn split(bytes: &[u8]) -> Result<(proto::Profile, Vec<SampleBytes<'_>>), Error> {
    let mut rest = Vec::new();
    let mut samples = Vec::new();
    for field in Fields(bytes, 0) {
        let Ok((tag, start, body)) = field else {
            let at = field.err().unwrap_or(0);
            return Err(Error::malformed(
                Format::Pprof,
                Position::Byte(at as u64),
                "not a profile.proto message: a field is cut short or has no valid wire type",
            ));
        };
        match (tag >> 3, body) {
            (2, Some(body)) if tag & 7 == 2 => samples.push((start, body)),
            _ => rest.extend_from_slice(&bytes[start..start + field_len(bytes, start)]),
        }
    }
    let message = proto::Profile::decode(&rest[..]).map_err(|e| {
        let at = broken_field(bytes).map_or(Position::Unknown, Position::Byte);
        Error::malformed(Format::Pprof, at, format!("not a profile.proto message: {e}"))
    })?;
    Ok((message, samples))
}

/// Decodes profile.proto bytes (gzipped or not) into its messages.
///
/// # Errors
///
/// [`Error::Gzip`], or [`Error::Malformed`] naming the byte offset of the
/// top-level field that does not decode.
pub fn decode(bytes: &[u8]) -> Result<proto::Profile, Error> {
    let inflated;
    let bytes = if detect::is_gzip(bytes) {
        inflated = crate::formats::gunzip(bytes)?;
        &inflated[..]
    } else {
        bytes
    };
    proto::Profile::decode(bytes).map_err(|e| {
        let at = broken_field(bytes).map_or(Position::Unknown, Position::Byte);
        Error::malformed(Format::Pprof, at, format!("not a profile.proto message: {e}"))
    })
}

/// The sample types of a decoded profile, as `(type, unit)`.
pub fn sample_types(message: &proto::Profile) -> Vec<(String, String)> {
    let strings = Strings::new(&message.string_table);
    message
        .sample_type
        .iter()
        .map(|t| (strings.get(t.r#type).into(), strings.get(t.unit).into()))
        .collect()
}

/// The string table, decoded lossily once.
struct Strings<'a>(Vec<Cow<'a, str>>);

impl<'a> Strings<'a> {
    fn new(table: &'a [Vec<u8>]) -> Self {
        let strings: Vec<Cow<'a, str>> = table.iter().map(|s| String::from_utf8_lossy(s)).collect();
        if strings.iter().any(|s| matches!(s, Cow::Owned(_))) {
            tracing::warn!("replaced bytes that are not UTF-8 in the string table with U+FFFD");
        }
        Strings(strings)
    }

    /// The string at `index`; out-of-range indices read as empty.
    fn get(&self, index: i64) -> &str {
        usize::try_from(index).ok().and_then(|i| self.0.get(i)).map_or("", |s| s.as_ref())
    }
}

/// Counts of what a profile referred to but did not hold.
#[derive(Default)]
struct Dangling {
    mappings: usize,
    lines: usize,
    samples: usize,
    value: u64,
}

fn build(
    message: &proto::Profile,
    samples: &[SampleBytes<'_>],
    options: &Options,
) -> Result<Profile, Error> {
    let strings = Strings::new(&message.string_table);
    let types = sample_types(message);
    let index = select(&types, message, samples.len(), &options.sample_type)?;
    let mut profile = Profile::default();
    if let Some((kind, unit)) = index.and_then(|i| types.get(i)) {
        profile.meta.sample_type = kind.clone();
        profile.meta.unit = unit.clone();
    }
    if let Some(period_type) = message.period_type {
        if strings.get(period_type.unit) == "nanoseconds" && message.period > 0 {
            profile.meta.period_ns = u64::try_from(message.period).ok();
        }
    }
    if message.duration_nanos > 0 {
        let nanos = u64::try_from(message.duration_nanos).unwrap_or(0);
        profile.meta.duration = Some(std::time::Duration::from_nanos(nanos));
    }
    let Some(index) = index else {
        return Ok(profile);
    };

    let mut dangling = Dangling::default();
    let locations = location_frames(message, &strings, &mut profile, &mut dangling);
    let mut groups: HashMap<String, FrameId> = HashMap::new();
    // Samples that had the --group-by label, and the labels seen while none had.
    let (mut grouped, mut label_keys) = (0u64, std::collections::BTreeSet::new());
    let mut stack = Vec::new();
    let mut total = 0u64;
    'samples: for (number, &(offset, body)) in samples.iter().enumerate() {
        let sample = proto::Sample::decode(body).map_err(|e| {
            let message = format!("sample {number} does not decode: {e}");
            Error::malformed(Format::Pprof, Position::Byte(offset as u64), message)
        })?;
        let sample = &sample;
        let value = *sample.value.get(index).ok_or_else(|| {
            let message = format!(
                "sample {number} has {} values but the profile declares {} sample types",
                sample.value.len(),
                types.len()
            );
            Error::malformed(Format::Pprof, Position::Unknown, message)
        })?;
        let value = u64::try_from(value).map_err(|_| {
            let message = format!("sample {number} has the negative value {value}");
            Error::malformed(Format::Pprof, Position::Unknown, message)
        })?;
        if value == 0 {
            continue;
        }

        stack.clear();
        if let Some(key) = &options.group_by {
            let name = match group_name(sample, key, &strings) {
                Some(name) => {
                    grouped += 1;
                    name
                }
                None => {
                    if grouped == 0 {
                        label_keys
                            .extend(sample.label.iter().map(|l| strings.get(l.key).to_string()));
                    }
                    format!("[no {key}]")
                }
            };
            let id = *groups
                .entry(name)
                .or_insert_with_key(|n| profile.intern(Frame::new(n.clone(), FrameKind::Marker)));
            stack.push(id);
        }
        for id in sample.location_id.iter().rev() {
            match locations.get(id) {
                Some(frames) => stack.extend_from_slice(frames),
                None => {
                    dangling.samples += 1;
                    dangling.value = dangling.value.saturating_add(value);
                    continue 'samples;
                }
            }
        }
        total = total.checked_add(value).ok_or_else(|| {
            Error::malformed(
                Format::Pprof,
                Position::Unknown,
                "the values add up to more than 2^64 - 1",
            )
        })?;
        profile.add(&stack, value);
    }

    report(&dangling, &profile.meta.unit);
    if let Some(key) = options.group_by.as_ref().filter(|_| grouped == 0) {
        let present: Vec<String> = label_keys.into_iter().collect();
        let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
        tracing::warn!("no sample has the label {key:?} to group by (labels present: {present})");
    }
    Ok(profile)
}

fn report(dangling: &Dangling, unit: &str) {
    if dangling.samples > 0 {
        tracing::warn!(
            samples = dangling.samples,
            value = dangling.value,
            unit,
            "dropped samples that refer to locations the profile does not hold"
        );
    }
    if dangling.mappings > 0 {
        tracing::warn!(
            locations = dangling.mappings,
            "read locations with a missing mapping as unmapped"
        );
    }
    if dangling.lines > 0 {
        tracing::warn!(lines = dangling.lines, "ignored lines that refer to missing functions");
    }
}

/// The index of the sample type to read, `None` for a profile that has no
/// sample types and no samples.
fn select(
    types: &[(String, String)],
    message: &proto::Profile,
    samples: usize,
    wanted: &SampleType,
) -> Result<Option<usize>, Error> {
    let listed = || {
        let names: Vec<String> = types.iter().map(|(t, u)| format!("{t}/{u}")).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    if types.is_empty() {
        if samples == 0 {
            return Ok(None);
        }
        return Err(Error::malformed(
            Format::Pprof,
            Position::Unknown,
            "samples but no sample types",
        ));
    }
    let strings = Strings::new(&message.string_table);
    let index = match wanted {
        SampleType::Default => {
            let name = strings.get(message.default_sample_type);
            let default = (message.default_sample_type != 0)
                .then(|| types.iter().position(|(t, _)| t == name))
                .flatten();
            default.unwrap_or(types.len() - 1)
        }
        SampleType::Name(name) => types.iter().position(|(t, _)| t == name).ok_or_else(|| {
            Error::unsatisfied(format!("no sample type `{name}`; the profile has {}", listed()))
        })?,
        SampleType::Index(index) if *index < types.len() => *index,
        SampleType::Index(index) => {
            return Err(Error::unsatisfied(format!(
                "no sample type at index {index}; the profile has {}",
                listed()
            )));
        }
    };
    Ok(Some(index))
}

/// The root frame name of a sample grouped by `key`; `None` when the
/// sample lacks the label.
fn group_name(sample: &proto::Sample, key: &str, strings: &Strings<'_>) -> Option<String> {
    let label = sample.label.iter().find(|l| strings.get(l.key) == key)?;
    Some(match (label.str, strings.get(label.num_unit)) {
        (0, "") => format!("{key}={}", label.num),
        (0, unit) => format!("{key}={} {unit}", label.num),
        (text, _) => format!("{key}={}", strings.get(text)),
    })
}

/// The frames of every location, root first, keyed by location id.
fn location_frames(
    message: &proto::Profile,
    strings: &Strings<'_>,
    profile: &mut Profile,
    dangling: &mut Dangling,
) -> HashMap<u64, Vec<FrameId>> {
    let functions: HashMap<u64, &proto::Function> =
        message.function.iter().filter(|f| f.id != 0).map(|f| (f.id, f)).collect();
    let mappings: HashMap<u64, &proto::Mapping> =
        message.mapping.iter().filter(|m| m.id != 0).map(|m| (m.id, m)).collect();
    let mut interned: HashMap<(u64, bool), FrameId> = HashMap::new();
    let mut out = HashMap::with_capacity(message.location.len());
    for location in message.location.iter().filter(|l| l.id != 0) {
        let mapping = match location.mapping_id {
            0 => None,
            id => {
                let found = mappings.get(&id).copied();
                dangling.mappings += usize::from(found.is_none());
                found
            }
        };
        let module = mapping.map(|m| strings.get(m.filename)).filter(|f| !f.is_empty());
        let build_id = mapping.map(|m| strings.get(m.build_id)).filter(|b| !b.is_empty());
        // perf and firebox name the kernel's mapping `[kernel.kallsyms]`.
        let in_kernel = module.is_some_and(|m| m.starts_with("[kernel"));
        let lines: Vec<(&proto::Line, &proto::Function)> = location
            .line
            .iter()
            .filter_map(|line| {
                let function = functions.get(&line.function_id).copied();
                dangling.lines += usize::from(function.is_none());
                Some((line, function?))
            })
            .collect();

        let mut frames = Vec::with_capacity(lines.len().max(1));
        if lines.is_empty() {
            let name = match module {
                Some(module) => format!("{}+0x{:x}", basename(module), location.address),
                None => format!("0x{:x}", location.address),
            };
            let id = profile.intern(Frame::native(name));
            let detail = FrameDetail {
                module: module.map(String::from),
                build_id: build_id.map(String::from),
                ..FrameDetail::default()
            };
            profile.set_detail(id, detail);
            frames.push(id);
        }
        // Lines are innermost first; the last one is the function the others
        // were inlined into.
        let last = lines.len().saturating_sub(1);
        for (i, (line, function)) in lines.iter().enumerate().rev() {
            let inlined = i != last;
            let id = *interned.entry((function.id, inlined)).or_insert_with(|| {
                let file = strings.get(function.filename);
                let kind = match (inlined, file.ends_with(".go")) {
                    (true, _) => FrameKind::Inlined,
                    (false, _) if in_kernel || file.starts_with("[kernel") => FrameKind::Kernel,
                    (false, true) => FrameKind::Go,
                    (false, false) => FrameKind::Native,
                };
                let mut name = strings.get(function.name);
                if name.is_empty() {
                    name = strings.get(function.system_name);
                }
                profile.intern(Frame::new(name, kind))
            });
            let file = strings.get(function.filename);
            let line_number = if line.line > 0 { line.line } else { function.start_line };
            profile.set_detail(
                id,
                FrameDetail {
                    file: (!file.is_empty()).then(|| file.to_string()),
                    line: u32::try_from(line_number).ok().filter(|&l| l > 0),
                    module: module.map(String::from),
                    build_id: build_id.map(String::from),
                },
            );
            frames.push(id);
        }
        out.insert(location.id, frames);
    }
    out
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_type_parses_index_or_name() {
        assert_eq!("2".parse::<SampleType>().unwrap(), SampleType::Index(2));
        assert_eq!("cpu".parse::<SampleType>().unwrap(), SampleType::Name("cpu".into()));
    }
}
