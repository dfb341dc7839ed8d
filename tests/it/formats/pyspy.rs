//! py-spy: raw and speedscope output of the same workload.

use std::path::PathBuf;

use super::{firebox_folded, shares, stdout_of, tool};
use crate::support::{fixtures, Scratch};

const PYSPY: &str = "install py-spy (pip install py-spy)";

/// Records the Python workload with py-spy in `format`.
fn record(scratch: &Scratch, format: &str, extra: &[&str]) -> PathBuf {
    let _turn = crate::support::cpu_turn();
    let out = scratch.path(&format!("{format}{}.out", extra.len()));
    let mut command = tool("py-spy", PYSPY);
    command.args(["record", "-r", "99", "-f", format]).args(extra).arg("-o").arg(&out);
    command.arg("--").arg("python3").arg(fixtures().join("pyspy/work.py"));
    stdout_of(&mut command);
    out
}

/// The function of a py-spy frame: `hot (work.py:12)` is `hot`.
fn function(frame: &str) -> String {
    frame.split(" (").next().unwrap_or(frame).to_string()
}

/// Raw and speedscope output of the workload give the same top functions
/// with shares within a few points, and the 70/30 split of hot() and
/// cold() shows in both.
#[test]
fn raw_and_speedscope_agree() {
    let scratch = Scratch::new("pyspy");
    let raw = shares(&firebox_folded(&record(&scratch, "raw", &[]), &[]), function);
    let speedscope = shares(&firebox_folded(&record(&scratch, "speedscope", &[]), &[]), function);
    let top = |s: &std::collections::BTreeMap<String, (f64, f64)>| {
        s.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).map(|(f, _)| f.clone())
    };
    assert_eq!(top(&raw), Some("spin".to_string()), "{raw:?}");
    assert_eq!(top(&raw), top(&speedscope));
    for function in ["hot", "cold", "spin"] {
        let (a, b) = (raw[function].1, speedscope[function].1);
        assert!((a - b).abs() < 10.0, "{function}: raw {a:.1}%, speedscope {b:.1}%");
    }
    let hot = raw["hot"].1 / (raw["hot"].1 + raw["cold"].1);
    assert!(
        (0.6..0.8).contains(&hot),
        "hot has {:.0}% of hot+cold, expected about 70%",
        hot * 100.0
    );
}

/// With `--threads`, each stack sits under a thread root that is one frame
/// (never read as a second count), and the shares stay the same.
#[test]
fn threads_roots_are_frames() {
    let scratch = Scratch::new("pyspy-threads");
    let raw = record(&scratch, "raw", &["--threads"]);
    let folded = firebox_folded(&raw, &[]);
    assert!(folded.lines().all(|l| l.starts_with("thread (")), "{folded}");
    let ours = shares(&folded, function);
    let text = std::fs::read_to_string(&raw).expect("py-spy wrote its raw file");
    for name in ["hot", "cold"] {
        let theirs = cumulative_percent(&text, name);
        let read = ours[name].1;
        assert!(
            (read - theirs).abs() < 0.01,
            "{name}: firebox {read:.3}%, py-spy's file {theirs:.3}%"
        );
    }
    let hot = ours["hot"].1 / (ours["hot"].1 + ours["cold"].1);
    assert!((0.6..0.8).contains(&hot), "{ours:?}");
}

/// The share of samples in py-spy's raw `text` whose stack holds `name`,
/// counted straight from the lines.
fn cumulative_percent(text: &str, name: &str) -> f64 {
    let (mut with, mut all) = (0u64, 0u64);
    for line in text.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else { continue };
        let count: u64 = count.parse().expect("a py-spy line ends in its count");
        all += count;
        if stack.split(';').any(|frame| function(frame) == name) {
            with += count;
        }
    }
    100.0 * with as f64 / all.max(1) as f64
}
