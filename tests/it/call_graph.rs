//! `--call-graph auto`: the kernel's frame-pointer walk, mended at the leaf
//! from the top of the stack, while every module keeps frame pointers;
//! stack copies unwound with CFI from the first module that does not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::formats::tool;
use crate::record::read_folded;
use crate::support::{compile, describe, firebox, fixtures, Scratch};
use crate::unwind::{chain_binary, whole_share, MAIN_SORT, THREAD_SORT};

fn bin_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firebox-it-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create a directory for test binaries");
    dir
}

/// fixtures/workloads/fpleaf.c: frame pointers everywhere, no libc, a
/// leaf without a frame.
fn fpleaf_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_fpleaf("fpleaf", None))
}

/// fixtures/workloads/fpleaf.c built as `name`, with `define` (`DEPTH=N`,
/// `RECURSE=N`) when given.
fn build_fpleaf(name: &str, define: Option<&str>) -> PathBuf {
    let out = bin_dir().join(name);
    let define = define.map(|d| format!("-D{d}"));
    let mut flags =
        vec!["-O2", "-fno-omit-frame-pointer", "-fno-stack-protector", "-static", "-nostdlib"];
    flags.extend(define.as_deref());
    compile(&[fixtures().join("workloads/fpleaf.c")], &out, &flags);
    out
}

/// fixtures/workloads/fpchain.go, built static (Go keeps frame pointers).
pub fn fpchain_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| go_build("fpchain", &[], false))
}

/// fixtures/workloads/cgochain.go, built static with its C code (cgo).
fn cgochain_binary() -> PathBuf {
    go_build("cgochain", &["-ldflags", "-extldflags=-static"], true)
}

/// fixtures/workloads/NAME.go built with `flags`, with cgo or without.
fn go_build(name: &str, flags: &[&str], cgo: bool) -> PathBuf {
    let dir = bin_dir();
    let out = dir.join(name);
    let output = tool("go", "apt-get install golang-go")
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(fixtures().join(format!("workloads/{name}.go")))
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.join("gocache"))
        .output()
        .expect("go build did not start");
    assert!(output.status.success(), "go build of {name}.go failed: {}", describe(&output));
    out
}

/// Records `command` with `--call-graph call_graph`: its folded stacks and
/// the summary's `stacks` block.
fn record(name: &str, call_graph: &str, command: &[&dyn AsRef<std::ffi::OsStr>]) -> Recorded {
    let dir = Scratch::new(name);
    let (out, summary) = (dir.path("out.folded"), dir.path("summary.json"));
    let output = firebox()
        .args(["record", "--call-graph", call_graph, "-o"])
        .arg(&out)
        .arg("--json-summary")
        .arg(&summary)
        .arg("--")
        .args(command)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    Recorded { stacks: read_folded(&out), summary: summary["stacks"].clone() }
}

struct Recorded {
    stacks: BTreeMap<String, u64>,
    summary: Value,
}

impl Recorded {
    fn count(&self, key: &str) -> u64 {
        self.summary[key].as_u64().unwrap_or_else(|| panic!("no {key} in {}", self.summary))
    }
}

const FPLEAF: &[&[&str]] = &[
    &["_start"],
    &["run"],
    &["outer.constprop.0"],
    &["middle.constprop.0"],
    &["leaf.constprop.0"],
];

/// In a program whose every function keeps frame pointers, `auto` copies
/// no stack, and still finds the caller that a frame-pointer walk skips
/// below a leaf without a frame: `middle` is in every sample of `leaf`
/// under `auto` and `dwarf`, and in almost none under `fp`.
#[test]
fn auto_walks_frame_pointers_and_mends_the_leaf() {
    let _turn = crate::support::cpu_turn();
    let auto = record("cg-fpleaf-auto", "auto", &[&fpleaf_binary()]);
    let (share, samples) = whole_share(&auto.stacks, "leaf.constprop.0", &[FPLEAF]);
    assert!(samples > 100, "too few samples in leaf ({samples}): {:#?}", auto.stacks);
    assert!(share >= 95.0, "{share:.1}% of leaf samples hold middle: {:#?}", auto.stacks);
    assert_eq!(auto.count("unwound_from_copies"), 0, "{}", auto.summary);
    assert_eq!(auto.count("frame_pointer_walks"), auto.count("with_user_frames"));
    assert!(auto.summary["switched_to_copies_by"].is_null(), "{}", auto.summary);

    let fp = record("cg-fpleaf-fp", "fp", &[&fpleaf_binary()]);
    let (share, _) = whole_share(&fp.stacks, "leaf.constprop.0", &[FPLEAF]);
    assert!(share < 5.0, "{share:.1}% hold middle with frame pointers alone: {:#?}", fp.stacks);

    let dwarf = record("cg-fpleaf-dwarf", "dwarf", &[&fpleaf_binary()]);
    let (share, _) = whole_share(&dwarf.stacks, "leaf.constprop.0", &[FPLEAF]);
    assert!(share >= 95.0, "{share:.1}% hold middle under dwarf: {:#?}", dwarf.stacks);
    assert_eq!(dwarf.count("unwound_from_copies"), dwarf.count("with_user_frames"));
}

/// Recursion into a leaf without a frame: ten frames of `rec` return to
/// one address, and the frame-pointer walk from the leaf skips the
/// innermost. `auto` finds where the walk meets the top of the stack by the
/// slot the walk read, not by the address, and keeps all ten, as `dwarf`
/// does.
#[test]
fn auto_keeps_every_frame_of_a_recursion() {
    let _turn = crate::support::cpu_turn();
    let bin = build_fpleaf("fpleaf-rec", Some("RECURSE=10"));
    for call_graph in ["auto", "dwarf"] {
        let rec = record(&format!("cg-rec-{call_graph}"), call_graph, &[&bin]);
        let mut by_depth = BTreeMap::<usize, u64>::new();
        for (stack, n) in &rec.stacks {
            if stack.ends_with(";leaf.constprop.0") {
                let depth = stack.split(';').filter(|f| *f == "rec.constprop.0").count();
                *by_depth.entry(depth).or_default() += n;
            }
        }
        let samples: u64 = by_depth.values().sum();
        assert!(samples > 100, "too few samples in leaf ({samples}): {:#?}", rec.stacks);
        let ten = by_depth.get(&10).copied().unwrap_or(0);
        assert!(
            ten * 100 >= samples * 95,
            "{call_graph}: leaf samples by frames of rec: {by_depth:?} (10 expected)"
        );
    }
}

/// A function without a frame pointer in a program whose other functions
/// keep one: a frame-pointer walk would skip its caller wherever the top of
/// the stack does not reach, so `auto` copies stacks, and they are whole.
#[test]
fn auto_copies_stacks_for_one_function_without_a_frame_pointer() {
    let _turn = crate::support::cpu_turn();
    let bin = bin_dir().join("fpmixed");
    let flags = ["-O2", "-fno-omit-frame-pointer", "-fno-stack-protector", "-static", "-nostdlib"];
    compile(&[fixtures().join("workloads/fpmixed.c")], &bin, &flags);
    let mixed = record("cg-fpmixed", "auto", &[&bin]);
    let chain: &[&[&str]] = &[
        &["_start"],
        &["run"],
        &["outer.constprop.0"],
        &["middle.constprop.0"],
        &["leaf.constprop.0"],
    ];
    let (share, samples) = whole_share(&mixed.stacks, "leaf.constprop.0", &[chain]);
    assert!(samples > 100, "too few samples in leaf ({samples}): {:#?}", mixed.stacks);
    assert!(share >= 95.0, "{share:.1}% of leaf samples hold outer: {:#?}", mixed.stacks);
    let why = mixed.summary["copies_from_start_because"].as_str().unwrap_or_default();
    assert_eq!(why, "fpmixed keeps no frame pointers", "{}", mixed.summary);
}

const GO_CHAIN: &[&[&str]] = &[
    &["runtime.goexit.abi0", "runtime.goexit"],
    &["runtime.main"],
    &["main.main"],
    &["main.outer"],
    &["main.middle"],
    &["main.leaf"],
];

/// A static Go binary keeps frame pointers throughout: `auto` walks them
/// and every stack of `main.leaf` is whole from `runtime.goexit`.
#[test]
fn go_is_walked_by_frame_pointers() {
    let _turn = crate::support::cpu_turn();
    // A set amount of work (some 1.6 s of CPU), so that a busy machine
    // slows the run but does not thin its samples.
    let go = record("cg-go", "auto", &[&fpchain_binary(), &"-rounds", &"150"]);
    let (share, samples) = whole_share(&go.stacks, "main.leaf", &[GO_CHAIN]);
    assert!(samples > 100, "too few samples in main.leaf ({samples}): {:#?}", go.stacks);
    assert!(share >= 95.0, "{share:.1}% of main.leaf samples are whole: {:#?}", go.stacks);
    assert_eq!(go.count("unwound_from_copies"), 0, "{}", go.summary);
    assert!(go.summary["copies_from_start_because"].is_null(), "{}", go.summary);
    assert!(go.count("whole") * 100 >= go.count("with_user_frames") * 95, "{}", go.summary);
}

/// The Go program then runs the chain workload (built without frame
/// pointers) as its child: the child's mapping turns `auto` to stack
/// copies, and the child's stacks through libc's qsort are whole.
#[test]
fn a_module_without_frame_pointers_turns_auto_to_stack_copies() {
    let _turn = crate::support::cpu_turn();
    let both = record("cg-switch", "auto", &[&fpchain_binary(), &"1", &chain_binary(), &"3"]);
    assert_eq!(both.summary["switched_to_copies_by"], "chain", "{}", both.summary);
    assert!(both.count("unwound_from_copies") > 300, "{}", both.summary);
    let (go_share, go_samples) = whole_share(&both.stacks, "main.leaf", &[GO_CHAIN]);
    assert!(go_samples > 30, "too few samples in main.leaf: {:#?}", both.stacks);
    assert!(go_share >= 95.0, "{go_share:.1}% of main.leaf samples whole: {:#?}", both.stacks);
    // The turn comes when firebox reads the child's first mapping, a few
    // hundred milliseconds into its three seconds.
    let (share, samples) = whole_share(&both.stacks, "compare", &[MAIN_SORT, THREAD_SORT]);
    assert!(samples > 100, "too few samples in compare ({samples}): {:#?}", both.stacks);
    assert!(share >= 85.0, "{share:.1}% of compare samples are whole: {:#?}", both.stacks);
}

/// Debian's libc keeps no frame pointers: a dynamic program is sampled
/// with stack copies from its first sample, whatever its own code keeps.
#[test]
fn a_dynamic_program_gets_stack_copies_from_the_start() {
    let _turn = crate::support::cpu_turn();
    let bin = bin_dir().join("split-fp-dynamic");
    compile(
        &[fixtures().join("workloads/split.c")],
        &bin,
        &["-O1", "-fno-omit-frame-pointer", "-pthread"],
    );
    let split = record("cg-dynamic", "auto", &[&bin, &"1"]);
    assert_eq!(split.count("frame_pointer_walks"), 0, "{}", split.summary);
    let why = split.summary["copies_from_start_because"].as_str().unwrap_or_default();
    assert!(why.contains("split-fp-dynamic is dynamic"), "{}", split.summary);
    assert_eq!(split.count("unwound_from_copies"), split.count("with_user_frames"));
}

/// A script: what it runs is not known before it runs, so it gets stack
/// copies from the start, and the summary says why in those words.
#[test]
fn a_script_gets_stack_copies_from_the_start() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("cg-script");
    let script = dir.path("run.sh");
    let text = format!("#!/bin/sh\nexec {}\n", fpleaf_binary().display());
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = record("cg-script-run", "auto", &[&script]);
    let why = run.summary["copies_from_start_because"].as_str().unwrap_or_default();
    assert_eq!(
        why, "run.sh is no ELF binary (a script?): what it runs is not known before it runs",
        "{}",
        run.summary
    );
    assert_eq!(run.count("frame_pointer_walks"), 0, "{}", run.summary);
}

/// Go keeps frame pointers, but C code linked in with cgo (built without
/// them, with a static libc that has none) does not: `auto` copies stacks
/// from the start, and the C chain is whole down to its leaf.
#[test]
fn go_with_c_code_gets_stack_copies() {
    let _turn = crate::support::cpu_turn();
    let cgo = record("cg-cgo", "auto", &[&cgochain_binary(), &"1500"]);
    let why = cgo.summary["copies_from_start_because"].as_str().unwrap_or_default();
    assert_eq!(why, "cgochain keeps no frame pointers", "{}", cgo.summary);
    let chain: &[&[&str]] = &[&["couter"], &["cmid"], &["cleaf"]];
    let (share, samples) = whole_share(&cgo.stacks, "cleaf", &[chain]);
    assert!(samples > 100, "too few samples in cleaf ({samples}): {:#?}", cgo.stacks);
    assert!(share >= 95.0, "{share:.1}% of cleaf samples hold couter;cmid: {:#?}", cgo.stacks);
}

/// `--pid` of a running Go program: its mappings, read from /proc before
/// the events are opened, all keep frame pointers, so no stack is copied.
#[test]
fn a_go_pid_is_walked_by_frame_pointers() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("cg-go-pid");
    let mut go = std::process::Command::new(fpchain_binary()).arg("4").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let summary = dir.path("summary.json");
    let output = firebox()
        .args(["record", "-d", "2s", "--pid", &go.id().to_string(), "-o"])
        .arg(dir.path("out.folded"))
        .arg("--json-summary")
        .arg(&summary)
        .output()
        .unwrap();
    let _ = go.kill();
    let _ = go.wait();
    assert!(output.status.success(), "{}", describe(&output));
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let stacks = &summary["stacks"];
    assert_eq!(stacks["unwound_from_copies"], 0, "{stacks:#}");
    assert!(stacks["frame_pointer_walks"].as_u64().unwrap() > 50, "{stacks:#}");
    assert!(stacks["whole_share"].as_f64().unwrap() >= 0.95, "{stacks:#}");
}

/// Stacks deeper than the kernel's frame-pointer walk goes (300 calls of
/// recursion, against kernel.perf_event_max_stack's 127): the first one cut
/// short turns `auto` to stack copies, which reach `_start`.
#[test]
fn a_stack_deeper_than_the_kernel_walks_turns_auto_to_stack_copies() {
    let _turn = crate::support::cpu_turn();
    let bin = build_fpleaf("fpleaf-deep", Some("DEPTH=300"));
    let deep = record("cg-deep", "auto", &[&bin]);
    let why = deep.summary["switched_to_copies_by"].as_str().unwrap_or_default();
    assert!(why.contains("deeper than the kernel walks"), "{}", deep.summary);
    assert!(deep.count("whole") * 100 >= deep.count("with_user_frames") * 90, "{}", deep.summary);
}
