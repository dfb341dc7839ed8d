//! What readers leave out is said once, on stderr, with counts: C06 junk
//! lines, C08 skipped events, C20 dropped samples, C24 damaged profiles.

use std::path::PathBuf;

use firebox_collectors::formats::pprof::proto;
use prost::Message;

use crate::support::{describe, run_firebox, Scratch};

/// Converts `bytes` (written as `name`) to folded and returns stdout and
/// stderr.
fn convert(scratch: &Scratch, name: &str, bytes: &[u8]) -> (String, String) {
    let path: PathBuf = scratch.path(name);
    std::fs::write(&path, bytes).unwrap();
    let output = run_firebox(["convert".as_ref(), path.as_os_str(), "-o".as_ref(), "-".as_ref()]);
    assert!(output.status.success(), "{}", describe(&output));
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// C06: comment and junk lines are skipped and counted in one warning.
#[test]
fn junk_lines_are_counted_once() {
    let scratch = Scratch::new("warn-junk");
    let (out, err) = convert(
        &scratch,
        "x.folded",
        b"# captured by tool X\na;b 5\nnot a stack line\nalso junk\n",
    );
    assert_eq!(out, "a;b 5\n");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("skipped lines") && err.contains("lines=3"), "{err}");
}

/// C08: samples of a second event are left out and the warning names the
/// event and how many samples it had.
#[test]
fn skipped_event_is_named() {
    let scratch = Scratch::new("warn-event");
    let text = "a 1 [000] 1.000001: 1 cpu-clock:\n\t401000 f (/bin/a)\n\n\
        b 2 [000] 1.000002: 9 cycles:\n\t401000 g (/bin/b)\n\n\
        b 2 [000] 1.000003: 9 cycles:\n\t401000 g (/bin/b)\n";
    let (out, err) = convert(&scratch, "x.perf", text.as_bytes());
    assert_eq!(out, "a;f 1\n");
    assert!(
        err.contains("event=cycles") && err.contains("samples=2") && err.contains("kept=cpu-clock"),
        "{err}"
    );
}

/// C20: samples that point at missing locations are dropped, and the
/// warning says how many and how much value went with them.
#[test]
fn dropped_samples_are_counted() {
    let scratch = Scratch::new("warn-pprof");
    let strings: Vec<Vec<u8>> =
        ["", "samples", "count", "work"].iter().map(|s| s.as_bytes().to_vec()).collect();
    let sample = |ids: &[u64], v: i64| proto::Sample {
        location_id: ids.to_vec(),
        value: vec![v],
        label: vec![],
    };
    let message = proto::Profile {
        sample_type: vec![proto::ValueType { r#type: 1, unit: 2 }],
        function: vec![proto::Function { id: 2, name: 3, ..Default::default() }],
        location: vec![proto::Location {
            id: 1,
            mapping_id: 7,
            line: vec![proto::Line { function_id: 2, line: 0, column: 0 }],
            ..Default::default()
        }],
        sample: vec![sample(&[1], 5), sample(&[0], 2), sample(&[1, 99], 3)],
        string_table: strings,
        ..Default::default()
    };
    let (out, err) = convert(&scratch, "x.pb", &message.encode_to_vec());
    assert_eq!(out, "work 5\n");
    assert!(
        err.contains("dropped samples") && err.contains("samples=2") && err.contains("value=5"),
        "{err}"
    );
    assert!(err.contains("missing mapping") && err.contains("locations=1"), "{err}");
}

/// C24: a speedscope profile with more weights than samples is skipped
/// with both lengths named; the other profile is read.
#[test]
fn damaged_speedscope_profile_is_named() {
    let scratch = Scratch::new("warn-speedscope");
    let json = r#"{"shared":{"frames":[{"name":"main"},{"name":"work"}]},"profiles":[
        {"type":"sampled","name":"A","unit":"none","startValue":0,"endValue":1,"samples":[[0,1]],"weights":[1]},
        {"type":"sampled","name":"B","unit":"none","startValue":0,"endValue":1,"samples":[[0,1]],"weights":[1,1]}]}"#;
    let (out, err) = convert(&scratch, "x.json", json.as_bytes());
    assert_eq!(out, "A;main;work 1\n");
    assert!(err.contains("2 weights for 1 samples") && err.contains("name=B"), "{err}");
}
