//! perf: `perf script` text and perf.data from a real `perf record`,
//! against `inferno-collapse-perf`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{firebox_folded, shares, stdout_of, tool};
use crate::support::{compile, fixtures, Scratch};

const PERF: &str = "install Debian's linux-perf (apt-get install -y linux-perf)";
const INFERNO: &str = "install inferno (cargo install inferno --version 0.12.8)";

/// Records the C workload; returns perf.data and its `perf script` text.
fn record(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let binary = scratch.path("work");
    compile(&[fixtures().join("perf/work.c")], &binary, &["-O1", "-g", "-fno-omit-frame-pointer"]);
    let data = scratch.path("perf.data");
    stdout_of(
        tool("perf", PERF).args(["record", "-q", "-F", "99", "-g", "-o"]).arg(&data).arg(&binary),
    );
    let text = stdout_of(tool("perf", PERF).args(["script", "-i"]).arg(&data));
    let script = scratch.path("perf.txt");
    std::fs::write(&script, text).unwrap();
    (data, script)
}

fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// perf script of a real recording: firebox's collapse is line for line
/// what `inferno-collapse-perf --all` makes of the same file, and the
/// workload's 50/20 split of hot and cold shows.
#[test]
fn perf_script_matches_inferno() {
    let scratch = Scratch::new("perf-script");
    let (_, script) = record(&scratch);
    let reference = stdout_of(tool("inferno-collapse-perf", INFERNO).arg("--all").arg(&script));
    let ours = firebox_folded(&script, &[]);
    assert_eq!(sorted(&ours), sorted(&reference));

    let split = shares(&ours, str::to_string);
    // sys() calls libc's write, which keeps no frame pointer, so its own
    // frame is often lost from the chain; hot and cold are not.
    for (function, expected) in [("hot", 50.0), ("cold", 20.0)] {
        let cum = split.get(function).map_or(0.0, |s| s.1);
        assert!(
            (cum - expected).abs() < 12.0,
            "{function}: {cum:.1}% of the samples, expected about {expected}%"
        );
    }
}

/// The perf.data file itself: the same samples with the same weights as
/// its perf script text, for every function of the workload and every
/// kernel frame.
#[test]
fn perf_data_agrees_with_perf_script() {
    let scratch = Scratch::new("perf-data");
    let (data, script) = record(&scratch);
    let from_data = firebox_folded(&data, &[]);
    let from_script = firebox_folded(&script, &[]);
    let weights = |folded: &str| -> BTreeMap<String, (f64, f64)> {
        shares(folded, str::to_string)
            .into_iter()
            .filter(|(f, _)| ["main", "hot", "cold", "sys", "spin", "now"].contains(&f.as_str()))
            .collect()
    };
    assert_eq!(weights(&from_data), weights(&from_script));
    let kernel = |folded: &str| -> Vec<String> {
        let mut frames: Vec<String> = folded
            .lines()
            .flat_map(|l| l.rsplit_once(' ').unwrap().0.split(';').map(str::to_string))
            .filter(|f| f.ends_with("_[k]") && !f.contains("vdso"))
            .collect();
        frames.sort();
        frames.dedup();
        frames
    };
    assert!(!kernel(&from_script).is_empty(), "the recording has no kernel frames:\n{from_script}");
    assert_eq!(kernel(&from_data), kernel(&from_script));
}

/// perf.data written as pprof opens in `go tool pprof`, with the
/// workload's mapping and its GNU build-id, and the same top function.
#[test]
fn perf_data_as_pprof_keeps_build_ids() {
    let scratch = Scratch::new("perf-pprof");
    let (data, _) = record(&scratch);
    let pprof = scratch.path("perf.pb.gz");
    let output = crate::support::run_firebox([
        "convert".as_ref(),
        data.as_os_str(),
        "-o".as_ref(),
        pprof.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", crate::support::describe(&output));

    let binary = scratch.path("work");
    let notes = stdout_of(std::process::Command::new("readelf").arg("-n").arg(&binary));
    let build_id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("the workload has a GNU build-id note")
        .to_string();
    let go = "install Debian's golang-go (apt-get install -y golang-go)";
    let raw = stdout_of(tool("go", go).args(["tool", "pprof", "-raw"]).arg(&pprof));
    let mapping = raw
        .lines()
        .find(|l| l.contains(&*binary.to_string_lossy()))
        .unwrap_or_else(|| panic!("no mapping of the workload:\n{raw}"));
    assert!(mapping.contains(&build_id), "mapping without the build-id {build_id}: {mapping}");
    let top = stdout_of(tool("go", go).args(["tool", "pprof", "-top"]).arg(&pprof));
    let first =
        top.lines().skip_while(|l| !l.trim_start().starts_with("flat")).nth(1).unwrap_or("");
    assert!(first.trim_end().ends_with(" spin"), "spin is not the top function:\n{top}");
}
