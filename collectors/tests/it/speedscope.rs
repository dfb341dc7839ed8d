//! speedscope JSON: the cases C23 and C24 and the public sample.

use crate::support::{read, read_fixture};

/// C23: a file with no profiles, and one whose only profile has no
/// samples, read as empty profiles, no panic.
#[test]
fn no_profiles_or_no_samples_is_empty() {
    let none = br#"{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{"frames":[]},"profiles":[]}"#;
    assert!(read(none).unwrap().is_empty());
    let empty = br#"{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{"frames":[]},
        "profiles":[{"type":"sampled","name":"x","unit":"none","startValue":0,"endValue":0,"samples":[],"weights":[]}]}"#;
    assert!(read(empty).unwrap().is_empty());
}

const C24: &str = r#"{"$schema":"https://www.speedscope.app/file-format-schema.json",
 "shared":{"frames":[{"name":"main","file":"app.py","line":1},
                     {"name":"work","file":"app.py","line":5},
                     {"name":"sleep","file":"app.py","line":9}]},
 "profiles":[
  {"type":"sampled","name":"MainThread","unit":"seconds","startValue":0,"endValue":0.03,
   "samples":[[0,1],[0,1],[0,2]],"weights":[0.01,0.01,0.01]},
  {"type":"sampled","name":"Worker-1","unit":"seconds","startValue":0,"endValue":2,
   "samples":[[0,1]],"weights":[WORKER]}]}"#;

/// C24: each profile is a thread root, seconds become nanoseconds, a wrong
/// `endValue` is not fatal.
#[test]
fn per_thread_profiles_become_roots() {
    let profile = read(C24.replace("WORKER", "0.01").as_bytes()).unwrap();
    assert_eq!(
        profile.folded_lines(),
        [
            "MainThread;main;sleep 10000000",
            "MainThread;main;work 20000000",
            "Worker-1;main;work 10000000"
        ]
    );
    assert_eq!(profile.meta.unit, "nanoseconds");
}

/// C24: a profile with more weights than samples is skipped, the other one
/// read.
#[test]
fn length_mismatch_skips_only_that_profile() {
    let profile = read(C24.replace("WORKER", "0.01,0.01").as_bytes()).unwrap();
    assert_eq!(
        profile.folded_lines(),
        ["MainThread;main;sleep 10000000", "MainThread;main;work 20000000"]
    );
}

/// The public two-profile sample: both profiles, the same stacks each.
#[test]
fn public_two_sampled_file() {
    let profile = read_fixture("speedscope/two-sampled.speedscope.json");
    let lines = profile.folded_lines();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines.contains(&"one;a;b;c 5000000000".to_string()), "{lines:?}");
    assert!(lines.contains(&"two;a;b 5000000000".to_string()), "{lines:?}");
}

/// Malformed JSON names line and column.
#[test]
fn malformed_json_names_line_and_column() {
    let err = read(b"{\"shared\":{\"frames\":[]},\n \"profiles\": [ {\"type\": \"sampled\", }")
        .unwrap_err();
    assert!(err.to_string().contains("line 2, column"), "{err}");
}
