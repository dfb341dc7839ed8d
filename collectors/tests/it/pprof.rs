//! pprof built message by message: the cases C19 and C20, and the public
//! nomappings profile.

use firebox_collectors::formats::pprof::{self, proto, Options, SampleType};
use prost::Message;

use crate::support::read_fixture;

/// A string table builder.
struct Strings(Vec<String>);

impl Strings {
    fn new() -> Self {
        Strings(vec![String::new()])
    }

    fn id(&mut self, s: &str) -> i64 {
        match self.0.iter().position(|t| t == s) {
            Some(i) => i as i64,
            None => {
                self.0.push(s.to_string());
                self.0.len() as i64 - 1
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn line(function_id: u64) -> proto::Line {
    proto::Line { function_id, line: 0, column: 0 }
}

fn sample(locations: &[u64], value: i64) -> proto::Sample {
    proto::Sample { location_id: locations.to_vec(), value: vec![value], label: vec![] }
}

/// C20: ids 0 and dangling ids; valid parts kept, broken samples dropped.
#[test]
fn dangling_ids_drop_only_broken_samples() {
    let mut s = Strings::new();
    let (main, work) = (s.id("main"), s.id("work"));
    let message = proto::Profile {
        sample_type: vec![proto::ValueType { r#type: s.id("samples"), unit: s.id("count") }],
        function: vec![
            proto::Function { id: 1, name: main, ..Default::default() },
            proto::Function { id: 2, name: work, ..Default::default() },
        ],
        location: vec![
            proto::Location {
                id: 1,
                mapping_id: 0,
                address: 0x1000,
                line: vec![line(2)],
                ..Default::default()
            },
            proto::Location { id: 2, mapping_id: 7, line: vec![line(1)], ..Default::default() },
            proto::Location { id: 3, line: vec![line(0)], address: 0x3000, ..Default::default() },
        ],
        sample: vec![
            sample(&[1], 5),
            sample(&[0], 2),
            sample(&[1, 99], 3),
            sample(&[3, 1], 1),
            sample(&[1, 2], 4),
        ],
        string_table: s.0.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let profile = pprof::from_bytes(&gzip(&message.encode_to_vec()), &Options::default()).unwrap();
    assert_eq!(profile.folded_lines(), ["main;work 4", "work 5", "work;0x3000 1"]);
    assert_eq!(profile.total(), 10);
}

fn header(s: &mut Strings, types: &[(&str, &str)]) -> proto::Profile {
    proto::Profile {
        sample_type: types
            .iter()
            .map(|(t, u)| proto::ValueType { r#type: s.id(t), unit: s.id(u) })
            .collect(),
        period_type: Some(proto::ValueType { r#type: s.id("contentions"), unit: s.id("count") }),
        period: 100,
        ..Default::default()
    }
}

/// C19: a profile without mappings, locations or samples reads as empty
/// and merges with one that has them; unsymbolized frames are addresses.
#[test]
fn profile_without_mappings_merges() {
    let types = [("contentions", "count"), ("delay", "nanoseconds")];
    let mut s1 = Strings::new();
    let mut p1 = header(&mut s1, &types);
    p1.string_table = s1.0.iter().map(|t| t.as_bytes().to_vec()).collect();
    let mut s2 = Strings::new();
    let mut p2 = header(&mut s2, &types);
    p2.mapping = vec![proto::Mapping {
        id: 1,
        memory_start: 0,
        memory_limit: u64::MAX,
        ..Default::default()
    }];
    p2.location = (1..=3)
        .map(|i| proto::Location {
            id: i,
            mapping_id: 1,
            address: 0x1000 * i,
            ..Default::default()
        })
        .collect();
    p2.sample = vec![
        proto::Sample { location_id: vec![1, 2, 3], value: vec![10, 1000], label: vec![] },
        proto::Sample { location_id: vec![2, 3], value: vec![5, 500], label: vec![] },
    ];
    p2.string_table = s2.0.iter().map(|t| t.as_bytes().to_vec()).collect();

    let options =
        Options { sample_type: SampleType::Name("contentions".into()), ..Options::default() };
    let one = pprof::from_bytes(&p1.encode_to_vec(), &options).unwrap();
    let two = pprof::from_bytes(&p2.encode_to_vec(), &options).unwrap();
    assert!(one.is_empty());
    let expected = ["0x3000;0x2000 5", "0x3000;0x2000;0x1000 10"];
    for (a, b) in [(&one, &two), (&two, &one)] {
        let mut merged = a.clone();
        merged.merge(b);
        assert_eq!(merged.folded_lines(), expected);
    }
}

/// C19: go.nomappings.crash reads without panic: two stacks of raw
/// addresses, default type the last one (inuse_space), values as `go tool
/// pprof` shows them (799.43kB and 925.14kB).
#[test]
fn nomappings_profile_reads_as_addresses() {
    let profile = read_fixture("pprof/go.nomappings.crash");
    assert_eq!(profile.meta.sample_type, "inuse_space");
    assert_eq!(profile.meta.unit, "bytes");
    let mut weights: Vec<u64> = profile.stacks().map(|(_, w)| w).collect();
    weights.sort_unstable();
    assert_eq!(weights, [818_615, 947_340]);
    assert!(profile.frames().iter().all(|f| f.name.starts_with("0x")));
}

/// Every sample type of the heap profile can be chosen, by index and by
/// name; an unknown one is refused naming those there are.
#[test]
fn every_sample_type_is_selectable() {
    let path = crate::support::fixtures().join("pprof/go.nomappings.crash");
    let bytes = std::fs::read(path).unwrap();
    let types = pprof::sample_types(&pprof::decode(&bytes).unwrap());
    assert_eq!(types.len(), 4);
    for (index, (name, _)) in types.iter().enumerate() {
        let by_index = pprof::from_bytes(
            &bytes,
            &Options { sample_type: SampleType::Index(index), ..Options::default() },
        )
        .unwrap();
        let by_name = pprof::from_bytes(
            &bytes,
            &Options { sample_type: SampleType::Name(name.clone()), ..Options::default() },
        )
        .unwrap();
        assert_eq!(by_index.meta.sample_type, *name);
        assert_eq!(by_index.folded_lines(), by_name.folded_lines());
    }
    let err = pprof::from_bytes(
        &bytes,
        &Options { sample_type: SampleType::Name("cpu".into()), ..Options::default() },
    )
    .unwrap_err();
    assert!(err.to_string().contains("inuse_space/bytes"), "{err}");
}

/// Broken bytes: a truncated gzip stream and an invalid message name where
/// they broke.
#[test]
fn broken_bytes_name_where() {
    let path = crate::support::fixtures().join("pprof/go.nomappings.crash");
    let bytes = std::fs::read(path).unwrap();
    let err = pprof::from_bytes(&bytes[..bytes.len() / 2], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("gzip") && err.to_string().contains("byte"), "{err}");
    let err = pprof::from_bytes(&[0x12, 0x05, 0x0a, 0x01], &Options::default()).unwrap_err();
    assert!(err.to_string().contains("at byte 0"), "{err}");
}

/// Negative values are refused naming the sample.
#[test]
fn negative_value_is_refused() {
    let mut s = Strings::new();
    let message = proto::Profile {
        sample_type: vec![proto::ValueType { r#type: s.id("samples"), unit: s.id("count") }],
        location: vec![proto::Location { id: 1, address: 0x10, ..Default::default() }],
        sample: vec![sample(&[1], 3), sample(&[1], -2)],
        string_table: s.0.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let err = pprof::from_bytes(&message.encode_to_vec(), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("sample 1") && err.to_string().contains("-2"), "{err}");
}

/// Inlined functions expand caller first: a location whose lines are
/// `[inner, middle, outer]` reads as `outer;middle;inner`, the inlined ones
/// marked, and Go files give Go frames.
#[test]
fn inlined_lines_expand_caller_first() {
    let mut s = Strings::new();
    let (file, inner, middle, outer, main) = (
        s.id("/src/app.go"),
        s.id("app.inner"),
        s.id("app.middle"),
        s.id("app.outer"),
        s.id("main.main"),
    );
    let function = |id, name| proto::Function { id, name, filename: file, ..Default::default() };
    let message = proto::Profile {
        sample_type: vec![proto::ValueType { r#type: s.id("samples"), unit: s.id("count") }],
        function: vec![
            function(1, inner),
            function(2, middle),
            function(3, outer),
            function(4, main),
        ],
        location: vec![
            proto::Location { id: 1, line: vec![line(1), line(2), line(3)], ..Default::default() },
            proto::Location { id: 2, line: vec![line(4)], ..Default::default() },
        ],
        sample: vec![sample(&[1, 2], 9)],
        string_table: s.0.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let profile = pprof::from_bytes(&message.encode_to_vec(), &Options::default()).unwrap();
    assert_eq!(profile.folded_lines(), ["main.main;app.outer;app.middle_[i];app.inner_[i] 9"]);
    let kinds: Vec<_> = profile.frames().iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert!(kinds.contains(&("app.outer", firebox_model::FrameKind::Go)), "{kinds:?}");
}
