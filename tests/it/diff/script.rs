//! `scripts/profile-diff`, the base-and-head recipe of the pull-request
//! workflow, on a git repository the test makes: two commits of the knob
//! workload, the second moving `rising` from 20% to 40% of the time.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use super::diff_fixtures;
use crate::support::{describe, Scratch};

const BUILD: &str = "cc -O1 -g -fno-omit-frame-pointer -o knob knob.c";

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`git` (Debian's git) is needed: {e}"));
    assert!(output.status.success(), "git {args:?} failed: {}", describe(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// Two commits, two recordings of each, merged: the script exits 1 for
/// `--fail-on-regression 5`, writes every recording, the SVG and both
/// summaries, flags `rising` and `falling` and nothing else, and leaves
/// no worktree behind.
#[test]
fn profile_diff_script_finds_the_regression() {
    let dir = Scratch::new("diff-script");
    let repo = dir.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    let source = std::fs::read_to_string(diff_fixtures().join("knob.c")).unwrap();
    let default_share = "long share = argc > 1 ? atol(argv[1]) : 20;";
    assert!(source.contains(default_share), "knob.c no longer defaults to 20");
    std::fs::write(repo.join("knob.c"), &source).unwrap();
    git(&repo, &["add", "knob.c"]);
    let identity = ["-c", "user.name=firebox test", "-c", "user.email=test@firebox.invalid"];
    git(&repo, &[&identity[..], &["commit", "--quiet", "-m", "knob at 20"]].concat());
    let changed = source.replace(default_share, "long share = argc > 1 ? atol(argv[1]) : 40;");
    std::fs::write(repo.join("knob.c"), &changed).unwrap();
    git(&repo, &[&identity[..], &["commit", "--quiet", "-am", "knob at 40"]].concat());

    let out = dir.path("out");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/profile-diff");
    let output = Command::new("bash")
        .arg(&script)
        .arg("-C")
        .arg(&repo)
        .args(["--build", BUILD, "--runs", "2", "--fail-on-regression", "5", "--top", "5"])
        // Judged at 0.001 for the reason `recorded::ALPHA` gives.
        .args(["--alpha", "0.001"])
        .arg("--out")
        .arg(&out)
        .arg("--firebox")
        .arg(env!("CARGO_BIN_EXE_firebox"))
        .args(["HEAD~1", "HEAD", "--", "./knob"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "a regression exits 1: {}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("regression"), "{stderr}");

    for file in ["base-1", "base-2", "head-1", "head-2"] {
        let path = out.join(format!("{file}.folded"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no recording {}: {e}", path.display()));
        assert!(text.lines().count() > 0, "{} is empty", path.display());
    }
    let svg = std::fs::read_to_string(out.join("diff.svg")).unwrap();
    assert!(svg.contains("head shape; red: grew"), "the SVG is the differential one");
    let md = std::fs::read_to_string(out.join("diff.md")).unwrap();
    assert!(md.starts_with("<!-- firebox-diff -->\n**Profile diff: "), "{md}");

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("diff.json")).unwrap()).unwrap();
    let flagged: BTreeSet<&str> = doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["total"]["significant"] == true || f["self"]["significant"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, BTreeSet::from(["falling", "rising"]), "{doc:#}");

    let worktrees = git(&repo, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "worktrees left behind: {worktrees}");
}

/// The commands of the `run: >` blocks of a workflow file, each folded
/// into one line as YAML folds them.
fn workflow_commands(yml: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut lines = yml.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if !line.trim_start().starts_with("run: >") {
            continue;
        }
        let mut command = Vec::new();
        while let Some(next) = lines.peek() {
            let next_indent = next.len() - next.trim_start().len();
            if next.trim().is_empty() || next_indent <= indent {
                break;
            }
            command.push(next.trim().to_string());
            lines.next();
        }
        commands.push(command.join(" "));
    }
    commands
}

/// Every option the pull-request workflow passes to `firebox diff` and to
/// `scripts/profile-diff` is one they take, so the recipe does not rot.
#[test]
fn workflow_uses_existing_options() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yml =
        std::fs::read_to_string(root.join("examples/github-actions/profile-diff.yml")).unwrap();
    let diff_help = Command::new(env!("CARGO_BIN_EXE_firebox")).args(["diff", "--help"]).output();
    let diff_help = String::from_utf8(diff_help.unwrap().stdout).unwrap();
    let script_help =
        Command::new("bash").arg(root.join("scripts/profile-diff")).arg("--help").output();
    let script_help = String::from_utf8(script_help.unwrap().stdout).unwrap();

    let commands = workflow_commands(&yml);
    let mut checked = (0, 0);
    for command in &commands {
        let help = if command.starts_with("firebox diff") {
            checked.0 += 1;
            &diff_help
        } else if command.starts_with("scripts/profile-diff") {
            checked.1 += 1;
            &script_help
        } else {
            continue;
        };
        for option in command.split_whitespace().filter(|t| t.starts_with("--") && t.len() > 2) {
            assert!(help.contains(option), "{option} in `{command}` is not an option");
        }
    }
    assert_eq!(checked, (2, 1), "the workflow's commands: {commands:#?}");
}
