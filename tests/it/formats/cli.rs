//! The `flamegraph` and `convert` commands on files: detection, merging,
//! stdin/stdout, output formats and bad input.

use std::ffi::OsStr;
use std::io::Write;
use std::process::Stdio;

use super::firebox_folded;
use crate::support::{describe, firebox, fixtures, run_firebox, Scratch};

/// Several inputs of different formats merge into one flame graph.
#[test]
fn flamegraph_merges_inputs() {
    let scratch = Scratch::new("merge");
    let a = scratch.path("a.folded");
    let b = scratch.path("b.txt");
    std::fs::write(&a, "app;main;work 3\n").unwrap();
    std::fs::write(
        &b,
        "app 1 [000] 1.000001: 1 cpu-clock:\n\t401000 work (/bin/app)\n\t400000 main (/bin/app)\n",
    )
    .unwrap();
    let svg = scratch.path("out.svg");
    let args =
        ["flamegraph".as_ref(), a.as_os_str(), b.as_os_str(), "-o".as_ref(), svg.as_os_str()];
    let output = run_firebox(args);
    // Samples weighed by period (nanoseconds) do not add to plain counts.
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot merge"));
    let output = run_firebox(args.iter().chain(&["--weight".as_ref(), "count".as_ref()]));
    assert!(output.status.success(), "{}", describe(&output));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("work (4 samples, 100.00%)"), "merged weights missing");
}

/// `-` reads stdin and writes stdout; the format is detected from content.
#[test]
fn stdin_to_stdout() {
    let mut child = firebox()
        .args(["convert", "-", "-o", "-", "--output-format", "folded"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\xef\xbb\xbfa;b 2\r\na;b 3\r\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "a;b 5\n");
}

/// Every output format by extension, read back by firebox to the same
/// stacks.
#[test]
fn outputs_by_extension_read_back() {
    let scratch = Scratch::new("outputs");
    let input = fixtures().join("async-profiler/sample1.collapsed");
    let expected = firebox_folded(&input, &[]);
    for name in ["x.folded", "x.pb.gz", "x.pprof", "x.json"] {
        let out = scratch.path(name);
        let output =
            run_firebox(["convert".as_ref(), input.as_os_str(), "-o".as_ref(), out.as_os_str()]);
        assert!(output.status.success(), "{name}: {}", describe(&output));
        let back = firebox_folded(&out, &[]);
        let strip = |s: &str| -> Vec<String> {
            let mut lines: Vec<String> =
                s.lines().map(|l| l.replace("_[j]", "").replace("_[i]", "")).collect();
            lines.sort();
            lines
        };
        assert_eq!(strip(&back), strip(&expected), "{name}");
    }
    let out = scratch.path("x.svg");
    let output =
        run_firebox(["convert".as_ref(), input.as_os_str(), "-o".as_ref(), out.as_os_str()]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(std::fs::read_to_string(out).unwrap().starts_with("<?xml"));
}

/// Bad input: one line naming the file and where, exit 2, no panic.
#[test]
fn bad_inputs_fail_with_one_line() {
    let scratch = Scratch::new("bad");
    let gz = std::fs::read(fixtures().join("pprof/go.nomappings.crash")).unwrap();
    let deep: Vec<String> = (0..5000).map(|i| format!("f{i}")).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("forced.pb", vec![0x0a, 0xff, 0xff, 0x01, 0x00], "byte 0"),
        ("truncated.pb.gz", gz[..gz.len() / 2].to_vec(), "gzip"),
        (
            "random.bin",
            (0..512u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(),
            "cannot tell the format",
        ),
        ("bad.json", b"{\"profiles\": [".to_vec(), "line 1"),
        ("negative.folded", b"a;b 3\na;c -3\n".to_vec(), "line 2"),
        ("overflow.folded", b"a;b 99999999999999999999999\n".to_vec(), "line 1"),
        ("invalid.pb", vec![0x0a, 0xff, 0xff, 0x01, 0x00], "cannot tell the format"),
    ];
    for (name, bytes, expected) in cases {
        let path = scratch.path(name);
        std::fs::write(&path, bytes).unwrap();
        let mut args: Vec<&OsStr> =
            vec!["convert".as_ref(), path.as_os_str(), "-o".as_ref(), "-".as_ref()];
        if name.starts_with("forced") {
            args.extend([OsStr::new("--format"), OsStr::new("pprof")]);
        }
        let output = run_firebox(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", describe(&output));
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(expected), "{name}: {stderr}");
    }

    // An empty file holds no samples: exit 1 with a message naming it.
    let empty = scratch.path("empty.folded");
    std::fs::write(&empty, b"").unwrap();
    let output = run_firebox(["flamegraph".as_ref(), empty.as_os_str()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty.folded holds no samples"));

    // A stack thousands of frames deep renders.
    let path = scratch.path("deep.folded");
    std::fs::write(&path, format!("main;{} 1\nmain;other 1\n", deep.join(";"))).unwrap();
    let output =
        run_firebox(["flamegraph".as_ref(), path.as_os_str(), "-o".as_ref(), "-".as_ref()]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("f4999"));
}

/// C19: heap profiles with other sample-type lists are not added up by
/// position: the default types differ by name, and the error names both.
#[test]
fn merging_other_sample_types_is_refused() {
    use firebox_collectors::formats::pprof::proto;
    use prost::Message;

    let scratch = Scratch::new("merge-types");
    let write = |name: &str, types: &[(&str, &str)]| {
        let mut strings = vec![String::new(), "main".to_string()];
        let mut id = |s: &str| {
            strings.iter().position(|t| t == s).unwrap_or_else(|| {
                strings.push(s.to_string());
                strings.len() - 1
            }) as i64
        };
        let sample_type =
            types.iter().map(|(t, u)| proto::ValueType { r#type: id(t), unit: id(u) }).collect();
        let message = proto::Profile {
            sample_type,
            function: vec![proto::Function { id: 1, name: 1, ..Default::default() }],
            location: vec![proto::Location {
                id: 1,
                line: vec![proto::Line { function_id: 1, line: 3, column: 0 }],
                ..Default::default()
            }],
            sample: vec![proto::Sample {
                location_id: vec![1],
                value: vec![7; types.len()],
                label: vec![],
            }],
            string_table: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        let path = scratch.path(name);
        std::fs::write(&path, message.encode_to_vec()).unwrap();
        path
    };
    let p3 = write("p3.pb", &[("objects", "count"), ("space", "bytes")]);
    let p4 = write(
        "p4.pb",
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
    );
    let output = run_firebox([
        "flamegraph".as_ref(),
        p3.as_os_str(),
        p4.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("space/bytes") && stderr.contains("inuse_space/bytes"), "{stderr}");
    // One type chosen by name reads that type's values alone.
    let output = run_firebox([
        "convert".as_ref(),
        p4.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
        "--sample-type".as_ref(),
        "alloc_space".as_ref(),
    ]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "main 7\n");
}

/// C23: a speedscope file without profiles, and a zero-length py-spy raw
/// file, end with "holds no samples" and exit status 1.
#[test]
fn empty_profiles_hold_no_samples() {
    let scratch = Scratch::new("empty-profiles");
    let json = scratch.path("empty.json");
    std::fs::write(&json, r#"{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{"frames":[]},"profiles":[]}"#).unwrap();
    let raw = scratch.path("empty.txt");
    std::fs::write(&raw, "").unwrap();
    for (path, format) in [(&json, "speedscope"), (&raw, "pyspy")] {
        let output = run_firebox([
            "flamegraph".as_ref(),
            path.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(String::from_utf8_lossy(&output.stderr).contains("holds no samples"));
    }
}

/// The perf script flags named as inferno-collapse-perf names them: pid
/// and tid roots, offsets kept, an event filter.
#[test]
fn perf_flags_shape_the_roots() {
    let scratch = Scratch::new("perf-flags");
    let path = scratch.path("x.perf");
    std::fs::write(
        &path,
        "Plex DLNA Serve 26638/26640 [001] 856620.530720: 1 cycles:\n\t401010 serve+0x10 (/bin/d)\n\n\
         app 7 [000] 1.0: 1 cpu-clock:\n\t401010 main+0x10 (/bin/app)\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args =
            vec!["convert".to_string(), path.display().to_string(), "-o".into(), "-".into()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let output = run_firebox(args);
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(run(&["--tid"]), "Plex DLNA Serve-26638/26640;serve 1\n");
    assert_eq!(run(&["--pid", "--addrs"]), "Plex DLNA Serve-26638;serve+0x10 1\n");
    assert_eq!(run(&["--event-filter", "cpu-clock", "--weight", "count"]), "app;main 1\n");
}
