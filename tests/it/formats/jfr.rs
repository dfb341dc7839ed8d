//! JDK Flight Recorder recordings made by the JDK itself, checked against
//! `jfr print`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{firebox_folded, shares, stdout_of, tool};
use crate::support::{fixtures, Scratch};

const JDK: &str = "install a JDK 17 (apt-get install -y openjdk-17-jdk-headless)";

/// Compiles and records the Java workload with the JDK's flight recorder.
fn record(scratch: &Scratch) -> PathBuf {
    let classes = scratch.path("classes");
    std::fs::create_dir_all(&classes).unwrap();
    stdout_of(tool("javac", JDK).arg("-d").arg(&classes).arg(fixtures().join("jfr/Work.java")));
    let recording = scratch.path("work.jfr");
    let flag =
        format!("-XX:StartFlightRecording=filename={},settings=profile", recording.display());
    stdout_of(tool("java", JDK).arg(flag).arg("-cp").arg(&classes).arg("Work").arg("20"));
    recording
}

/// Leaf methods counted by hand from `jfr print --events
/// jdk.ExecutionSample`: the first frame line of each stack trace.
fn leaves_by_jfr_print(recording: &PathBuf) -> (BTreeMap<String, usize>, usize) {
    let text = stdout_of(
        tool("jfr", JDK).args(["print", "--events", "jdk.ExecutionSample"]).arg(recording),
    );
    let mut leaves = BTreeMap::new();
    let mut total = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "stackTrace = [" {
            continue;
        }
        total += 1;
        let leaf = lines.next().unwrap_or("").trim();
        let method = leaf.split('(').next().unwrap_or(leaf).to_string();
        *leaves.entry(method).or_default() += 1;
    }
    assert!(total > 0, "jfr print shows no execution samples:\n{text}");
    (leaves, total)
}

/// The hottest Java method and its share agree with `jfr print` counted by
/// hand, every sample is read, and the 70/30 split of hot() and cold()
/// shows.
#[test]
fn jdk_recording_agrees_with_jfr_print() {
    let scratch = Scratch::new("jfr");
    let recording = record(&scratch);
    let (leaves, total) = leaves_by_jfr_print(&recording);
    let (hottest, count) = leaves.iter().max_by_key(|(_, n)| **n).unwrap();
    let expected = 100.0 * *count as f64 / total as f64;

    let folded = firebox_folded(&recording, &[]);
    let samples: u64 =
        folded.lines().map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap()).sum();
    assert_eq!(
        samples as usize, total,
        "firebox read another number of samples than jfr print shows"
    );
    let ours = shares(&folded, str::to_string);
    let flat = ours.get(hottest).map_or(0.0, |s| s.0);
    assert!(
        (flat - expected).abs() < 0.5,
        "{hottest}: jfr print {expected:.2}%, firebox {flat:.2}%"
    );
    assert_eq!(hottest, "Work.spin");
    let hot = ours["Work.hot"].1;
    assert!((60.0..80.0).contains(&hot), "Work.hot has {hot:.1}%, expected about 70%");
    // Frame types come through: spin runs JIT-compiled.
    assert!(folded.contains("Work.spin_[j]"), "{folded}");
}

/// The committed recording reads the same way, and a cut copy fails with
/// the offset where it broke.
#[test]
fn cut_recording_names_the_offset() {
    let scratch = Scratch::new("jfr-cut");
    let bytes = std::fs::read(record(&scratch)).unwrap();
    let cut = scratch.path("cut.jfr");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let output = crate::support::run_firebox([
        "convert".as_ref(),
        cut.as_os_str(),
        "-o".as_ref(),
        "-".as_ref(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cut.jfr") && stderr.contains("byte 8"), "{stderr}");
}
