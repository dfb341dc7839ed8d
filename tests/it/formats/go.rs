//! Go's runtime/pprof profiles, checked against `go tool pprof`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{firebox_folded, shares, stdout_of, tool};
use crate::support::{describe, fixtures, run_firebox, Scratch};

const INSTALL: &str = "install Debian's golang-go (apt-get install -y golang-go)";

/// Builds and runs the Go workload; returns the CPU and heap profiles.
fn go_profiles(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let binary = scratch.path("work");
    stdout_of(
        tool("go", INSTALL)
            .args(["build", "-o"])
            .arg(&binary)
            .arg(fixtures().join("go/work.go"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOPATH", scratch.path("gopath"))
            .env("GOCACHE", scratch.path("gocache")),
    );
    let (cpu, heap) = (scratch.path("cpu.pprof"), scratch.path("heap.pprof"));
    let _turn = crate::support::cpu_turn();
    stdout_of(Command::new(&binary).arg(&cpu).arg(&heap));
    (cpu, heap)
}

/// `go tool pprof -top` rows: function to (flat%, cum%).
fn pprof_top(file: &Path, args: &[&str]) -> BTreeMap<String, (f64, f64)> {
    let text = stdout_of(
        tool("go", INSTALL).args(["tool", "pprof", "-top", "-nodefraction=0"]).args(args).arg(file),
    );
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.trim_start().starts_with("flat") {
            in_table = true;
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if !in_table || cols.len() < 6 {
            continue;
        }
        let pct = |s: &str| s.trim_end_matches('%').parse::<f64>().expect("a percentage");
        // pprof marks a function it saw only inlined with ` (inline)`; firebox
        // marks the frame kind instead, and both name the same function.
        let name = cols[5..].join(" ");
        let name = name.strip_suffix(" (inline)").unwrap_or(&name).to_string();
        let row = rows.entry(name).or_insert((0.0, 0.0));
        row.0 += pct(cols[1]);
        row.1 += pct(cols[4]);
    }
    assert!(!rows.is_empty(), "no rows in go tool pprof -top output:\n{text}");
    rows
}

/// Every function `go tool pprof -top` lists with at least 1% flat or cum
/// has the same flat and cum share in firebox within 0.5 points.
fn assert_shares_agree(expected: &BTreeMap<String, (f64, f64)>, folded: &str) {
    let ours = shares(folded, str::to_string);
    for (function, &(flat, cum)) in expected.iter().filter(|(_, (f, c))| *f >= 1.0 || *c >= 1.0) {
        let &(our_flat, our_cum) = ours
            .get(function)
            .unwrap_or_else(|| panic!("{function} missing from firebox output:\n{folded}"));
        assert!(
            (our_flat - flat).abs() <= 0.5 && (our_cum - cum).abs() <= 0.5,
            "{function}: go tool pprof {flat}%/{cum}%, firebox {our_flat:.2}%/{our_cum:.2}%"
        );
    }
}

/// A Go CPU profile: top functions and their shares agree with `go tool
/// pprof -top`, and the 70/30 split of the workload shows.
#[test]
fn go_cpu_profile_agrees_with_go_tool_pprof() {
    let scratch = Scratch::new("go-cpu");
    let (cpu, _) = go_profiles(&scratch);
    let expected = pprof_top(&cpu, &[]);
    let folded = firebox_folded(&cpu, &[]);
    assert_shares_agree(&expected, &folded);

    let ours = shares(&folded, str::to_string);
    let hot = ours["main.burnHot"].1;
    assert!((60.0..80.0).contains(&hot), "burnHot has {hot}% of the CPU, expected about 70%");
}

/// A Go heap profile yields each of its four sample types, each agreeing
/// with `go tool pprof -sample_index`.
#[test]
fn go_heap_profile_yields_every_sample_type() {
    let scratch = Scratch::new("go-heap");
    let (_, heap) = go_profiles(&scratch);
    for (index, name) in
        ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"].iter().enumerate()
    {
        let by_name = firebox_folded(&heap, &["--sample-type", name]);
        let by_index = firebox_folded(&heap, &["--sample-type", &index.to_string()]);
        assert_eq!(by_name, by_index, "{name}");
        let expected = pprof_top(&heap, &[&format!("-sample_index={name}")]);
        assert_shares_agree(&expected, &by_name);
    }
    // The live 64 KiB buffers dominate the space in use.
    let inuse = shares(&firebox_folded(&heap, &[]), str::to_string);
    assert!(inuse["main.allocate"].0 > 50.0, "{inuse:?}");
}

/// `firebox convert x.pprof -o y.pprof`: `go tool pprof -top` prints the
/// same table for both.
#[test]
fn pprof_round_trip_prints_the_same_top() {
    let scratch = Scratch::new("go-round-trip");
    let (cpu, heap) = go_profiles(&scratch);
    for (input, name) in [(&cpu, "cpu"), (&heap, "heap")] {
        let copy = scratch.path(&format!("{name}.copy.pb.gz"));
        let output =
            run_firebox(["convert".as_ref(), input.as_os_str(), "-o".as_ref(), copy.as_os_str()]);
        assert!(output.status.success(), "{}", describe(&output));
        let table = |file: &Path| {
            let text = stdout_of(
                tool("go", INSTALL).args(["tool", "pprof", "-top", "-nodefraction=0"]).arg(file),
            );
            let at = text.find("Showing nodes").expect("a -top header");
            text[at..].to_string()
        };
        assert_eq!(table(input), table(&copy), "{name}");
    }
}

/// pprof labels become root frames with `--group-by`: the workload's
/// phase=hot and phase=cold labels split the CPU about 70/30, and samples
/// without the label sit under `[no phase]`.
#[test]
fn labels_group_samples_under_roots() {
    let scratch = Scratch::new("go-labels");
    let (cpu, _) = go_profiles(&scratch);
    let folded = firebox_folded(&cpu, &["--group-by", "phase"]);
    let roots = shares(&folded, str::to_string);
    let hot = roots.get("phase=hot").map_or(0.0, |s| s.1);
    let cold = roots.get("phase=cold").map_or(0.0, |s| s.1);
    assert!((60.0..80.0).contains(&hot) && (20.0..40.0).contains(&cold), "{roots:?}");
    assert!(
        folded.lines().all(|l| l.starts_with("phase=") || l.starts_with("[no phase]")),
        "{folded}"
    );
    // burnCold only ever runs under phase=cold.
    assert!(folded
        .lines()
        .filter(|l| l.contains("main.burnCold"))
        .all(|l| l.starts_with("phase=cold;")));

    // A label no sample has says so, and names the ones there are.
    let output = crate::support::run_firebox([
        "convert".as_ref(),
        cpu.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
        "--group-by".as_ref(),
        "stage".as_ref(),
    ]);
    assert!(output.status.success(), "{}", crate::support::describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"no sample has the label "stage" to group by (labels present: phase)"#),
        "{stderr}"
    );
}
