//! Reading other profilers' files and writing files other tools read, with
//! the real tools making and checking them.

mod cli;
mod go;
mod jfr;
mod perf;
mod pyspy;
mod svg;
mod warnings;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{describe, run_firebox};

/// Runs a tool the test needs, failing with what to install when it is not
/// there.
pub fn tool(program: &str, install: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "`{program}` is needed for this test and is missing: {install}");
    Command::new(program)
}

/// Runs `command`, asserting it succeeds, and returns its stdout.
pub fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    assert!(output.status.success(), "{command:?} failed\n{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The folded lines firebox makes of `input` (extra `args` allowed).
pub fn firebox_folded(input: &Path, args: &[&str]) -> String {
    let mut all: Vec<&std::ffi::OsStr> =
        vec!["convert".as_ref(), input.as_os_str(), "-o".as_ref(), "-".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let output = run_firebox(all);
    assert!(
        output.status.success(),
        "firebox convert {} failed\n{}",
        input.display(),
        describe(&output)
    );
    String::from_utf8(output.stdout).expect("folded output is UTF-8")
}

/// A frame name without its folded kind suffix.
pub fn bare(frame: &str) -> &str {
    for suffix in ["_[k]", "_[i]", "_[j]", "_[0]", "_[1]"] {
        if let Some(base) = frame.strip_suffix(suffix) {
            return base;
        }
    }
    frame
}

/// Per function: the share (percent) of the total where it is the leaf
/// (flat) and where it is anywhere in the stack (cum), from folded text.
/// `name` maps a frame to the function it counts for.
pub fn shares(folded: &str, name: impl Fn(&str) -> String) -> BTreeMap<String, (f64, f64)> {
    let mut flat: BTreeMap<String, f64> = BTreeMap::new();
    let mut cum: BTreeMap<String, f64> = BTreeMap::new();
    let mut total = 0.0;
    for line in folded.lines() {
        let (stack, count) = line.rsplit_once(' ').expect("a folded line has a count");
        let count: f64 = count.parse().expect("a folded count is a number");
        total += count;
        let frames: Vec<String> = stack.split(';').map(|f| name(bare(f))).collect();
        if let Some(leaf) = frames.last() {
            *flat.entry(leaf.clone()).or_default() += count;
        }
        let mut seen: Vec<&String> = frames.iter().collect();
        seen.sort();
        seen.dedup();
        for f in seen {
            *cum.entry(f.clone()).or_default() += count;
        }
    }
    cum.into_iter()
        .map(|(f, c)| {
            let fl = flat.get(&f).copied().unwrap_or(0.0);
            (f, (100.0 * fl / total, 100.0 * c / total))
        })
        .collect()
}
