//! DWARF unwinding: full stacks through code and a libc built without frame
//! pointers, where frame-pointer callchains stop after a frame or two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::record::read_folded;
use crate::support::{compile, describe, firebox, fixtures, Scratch};

/// The `chain` workload, built once with -O2 and no frame pointers.
pub fn chain_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_chain("chain", &[]))
}

/// The chain workload built -O2 without frame pointers, and `flags`.
fn build_chain(name: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("firebox-it-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create a directory for test binaries");
    let out = dir.join(name);
    let base = ["-O2", "-fomit-frame-pointer", "-g", "-pthread"];
    compile(&[fixtures().join("workloads/chain.c")], &out, &[&base[..], flags].concat());
    out
}

fn record_chain(name: &str, call_graph: &str) -> BTreeMap<String, u64> {
    record_chain_with(name, &["--call-graph", call_graph])
}

/// Records 3 s of the chain workload with `flags`.
fn record_chain_with(name: &str, flags: &[&str]) -> BTreeMap<String, u64> {
    record_binary_with(name, chain_binary(), flags)
}

/// Records 3 s of a build of the chain workload with `flags`.
fn record_binary_with(name: &str, binary: &Path, flags: &[&str]) -> BTreeMap<String, u64> {
    record_run(name, binary, flags, "3").stacks
}

/// What a recording gave: its folded stacks, the summary's `stacks` block
/// and firebox's stderr.
struct Run {
    stacks: BTreeMap<String, u64>,
    counts: serde_json::Value,
    stderr: String,
}

/// Records `binary SECONDS` with `flags`.
fn record_run(name: &str, binary: &Path, flags: &[&str], seconds: &str) -> Run {
    let dir = Scratch::new(name);
    let (out, summary) = (dir.path("out.folded"), dir.path("summary.json"));
    let output = firebox()
        .arg("record")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg("--json-summary")
        .arg(&summary)
        .arg("--")
        .arg(binary)
        .arg(seconds)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Run { stacks: read_folded(&out), counts: summary["stacks"].clone(), stderr }
}

/// Whether `stack` holds `chain` as a subsequence, in order, root first.
/// Each element of `chain` lists the names a frame may have: libc's debug
/// info says `__qsort_r` where its symbol table says `qsort_r`.
fn holds_in_order(stack: &str, chain: &[&[&str]]) -> bool {
    let mut want = chain.iter().peekable();
    for frame in stack.split(';') {
        if want.peek().is_some_and(|names| names.contains(&frame)) {
            want.next();
        }
    }
    want.peek().is_none()
}

/// The share (0 to 100) of the samples holding `leaf` whose stack also
/// holds one of the `chains` in order.
pub fn whole_share(
    stacks: &BTreeMap<String, u64>,
    leaf: &str,
    chains: &[&[&[&str]]],
) -> (f64, u64) {
    let mut with_leaf = 0;
    let mut whole = 0;
    for (stack, &n) in stacks {
        if !stack.split(';').any(|f| f == leaf) {
            continue;
        }
        with_leaf += n;
        if chains.iter().any(|chain| holds_in_order(stack, chain)) {
            whole += n;
        }
    }
    (100.0 * whole as f64 / with_leaf.max(1) as f64, with_leaf)
}

pub const START: &[&str] = &["_start"];
pub const CLONE: &[&str] = &["__clone3", "clone3", "__clone", "clone"];
pub const QSORT: &[&str] = &["qsort", "qsort_r", "__qsort_r"];
pub const MAIN_SORT: &[&[&str]] = &[START, &["main"], &["outer"], &["middle"], QSORT, &["compare"]];
pub const THREAD_SORT: &[&[&str]] =
    &[CLONE, &["start_thread"], &["worker"], &["outer"], &["middle"], QSORT, &["compare"]];

/// With DWARF unwinding at least 95% of the samples in `compare` hold the
/// whole chain from the thread entry through libc's qsort to the leaf.
#[test]
fn dwarf_gives_whole_chains_through_libc() {
    let stacks = record_chain("unwind-dwarf", "dwarf");
    let (share, samples) = whole_share(&stacks, "compare", &[MAIN_SORT, THREAD_SORT]);
    assert!(samples > 100, "too few samples in compare ({samples}): {stacks:#?}");
    assert!(share >= 95.0, "{share:.1}% of compare samples hold the whole chain: {stacks:#?}");
}

/// A build whose own functions have their rules in `.debug_frame` only
/// (`-fno-asynchronous-unwind-tables`), while the start files linked into
/// it bring theirs in `.eh_frame`: the chain is whole through both.
#[test]
fn rules_in_debug_frame_alone_unwind_too() {
    let flags = ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"];
    let binary = build_chain("chain-debug-frame", &flags);
    let stacks = record_binary_with("unwind-debug-frame", &binary, &["--call-graph", "dwarf"]);
    let (share, samples) = whole_share(&stacks, "compare", &[MAIN_SORT, THREAD_SORT]);
    assert!(samples > 100, "too few samples in compare ({samples}): {stacks:#?}");
    assert!(share >= 95.0, "{share:.1}% of compare samples hold the whole chain: {stacks:#?}");
}

/// Samples in libc's memset, called from `fill`, carry `fill` as their
/// caller.
#[test]
fn libc_samples_carry_their_caller() {
    let stacks = record_chain("unwind-libc", "auto");
    let mut in_fill = 0;
    let mut below_fill = 0;
    for (stack, &n) in &stacks {
        let frames: Vec<&str> = stack.split(';').collect();
        if let Some(i) = frames.iter().position(|f| *f == "fill") {
            in_fill += n;
            // fill's own time is a few instructions; the rest is in libc
            // below it.
            let whole = holds_in_order(stack, &[START, &["main"], &["outer"], &["fill"]])
                || holds_in_order(stack, &[CLONE, &["start_thread"], &["worker"], &["fill"]]);
            if i + 1 < frames.len() && whole {
                below_fill += n;
            }
        }
    }
    assert!(in_fill >= 10, "too few samples under fill ({in_fill}): {stacks:#?}");
    let share = 100.0 * below_fill as f64 / in_fill as f64;
    assert!(share >= 95.0, "{share:.1}% of fill samples are whole: {stacks:#?}");
}

/// The same workload with frame pointers only: the chains are cut short,
/// so the unwinder is what makes them whole; firebox says so and names
/// what goes further.
#[test]
fn frame_pointers_alone_give_short_stacks() {
    let Run { stacks, stderr, .. } =
        record_run("unwind-fp", chain_binary(), &["--call-graph", "fp"], "3");
    let (share, samples) = whole_share(&stacks, "compare", &[MAIN_SORT, THREAD_SORT]);
    assert!(samples > 100, "too few samples in compare ({samples}): {stacks:#?}");
    assert!(share < 20.0, "{share:.1}% whole with frame pointers alone: {stacks:#?}");
    assert!(
        stderr.contains(
            "frame-pointer walks end in code built without frame pointers; \
             --call-graph dwarf or auto unwinds it"
        ),
        "{stderr}"
    );
}

/// A Rust binary built with `-O` (no frame pointers, text segment not at
/// its file offset): its stacks are whole from `_start` to the leaf.
#[test]
fn rust_stacks_are_whole() {
    let dir = Scratch::new("unwind-rust");
    let bin = dir.path("names-rs");
    let status = std::process::Command::new("rustc")
        .args(["-O", "-g", "-o"])
        .arg(&bin)
        .arg(fixtures().join("workloads/names.rs"))
        .status()
        .expect("rustc is needed to build the Rust workload");
    assert!(status.success(), "rustc failed on names.rs");
    let out = dir.path("rust.folded");
    let output =
        firebox().args(["record", "-o"]).arg(&out).arg("--").arg(&bin).arg("2").output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let stacks = read_folded(&out);
    let leaf = "<[T: 4] as names::Tally>::tally";
    let chain: &[&[&str]] = &[START, &["main"], &["names::main"], &[leaf]];
    let (share, samples) = whole_share(&stacks, leaf, &[chain]);
    assert!(samples > 100, "too few samples in tally ({samples}): {stacks:#?}");
    assert!(share >= 95.0, "{share:.1}% of tally samples are whole: {stacks:#?}");
}

/// Processes that end before their samples are processed (a shell loop of
/// short runs) still get whole, named stacks: the files are found again on
/// the host by build-id once `/proc/PID` is gone.
#[test]
fn short_lived_processes_keep_whole_named_stacks() {
    let dir = Scratch::new("unwind-short");
    let out = dir.path("short.folded");
    let split = crate::record::split_binary();
    let script = format!("for i in $(seq 60); do {} 0.02; done", split.display());
    let output = firebox()
        .args(["record", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let stacks = read_folded(&out);
    let chain: &[&[&str]] =
        &[START, &["__libc_start_call_main"], &["main"], &["run"], &["step"], &["spin"]];
    let (share, samples) = whole_share(&stacks, "spin", &[chain]);
    assert!(samples >= 60, "too few samples in spin ({samples}): {stacks:#?}");
    assert!(share >= 90.0, "{share:.1}% of the short runs' samples are whole: {stacks:#?}");
}

/// firebox's peak resident memory while recording, from its `-v` log.
fn recording_peak_kib(stderr: &str) -> u64 {
    stderr
        .lines()
        .find(|l| l.contains("peak memory while recording"))
        .and_then(|l| l.split("peak_kib=").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in the log: {stderr}"))
}

/// Stack copies are dropped once unwound: recording five times as long
/// (some 800 samples more, 16 KiB of stack each: 13 MB if they were kept)
/// leaves firebox's peak memory where it was, give or take 4 MiB.
#[test]
fn memory_stays_flat_over_a_longer_recording() {
    let dir = Scratch::new("unwind-flat");
    let peak = |seconds: &str| {
        let output = firebox()
            .args(["-v", "record", "--call-graph", "dwarf", "-o"])
            .arg(dir.path(&format!("{seconds}.folded")))
            .arg("--")
            .arg(chain_binary())
            .arg(seconds)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        recording_peak_kib(&String::from_utf8_lossy(&output.stderr))
    };
    let (short, long) = (peak("1"), peak("5"));
    assert!(
        long <= short + 4 * 1024,
        "peak memory grew from {short} KiB over 1 s to {long} KiB over 5 s of recording"
    );
}

/// `--stack-size` is the copy the kernel takes: 256 bytes hold a frame or
/// two of the chain, so stacks stop short of it; past the kernel's limit,
/// or not a multiple of 8, the size is refused before anything runs.
#[test]
fn stack_size_sets_the_copy_and_its_limit() {
    let flags = ["--call-graph", "dwarf", "--stack-size", "256"];
    let Run { stacks, stderr, .. } = record_run("unwind-small-stack", chain_binary(), &flags, "3");
    let (share, samples) = whole_share(&stacks, "compare", &[MAIN_SORT, THREAD_SORT]);
    assert!(samples > 100, "too few samples in compare ({samples}): {stacks:#?}");
    assert!(share < 50.0, "{share:.1}% whole from a 256-byte stack copy: {stacks:#?}");
    // The stacks go on past the copy, and firebox says what goes further.
    let hint = "they go on past the 256-byte stack copy; --stack-size 65528 goes further";
    assert!(stderr.contains(hint), "{stderr}");

    let output = firebox()
        .args(["record", "--stack-size", "64K", "-o", "/tmp/x.svg", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("65536 bytes is out of range: 8 to 65528"), "{stderr}");

    let output = firebox()
        .args(["record", "--stack-size", "12", "-o", "/tmp/x.svg", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("12 bytes is not a multiple of 8"), "{stderr}");

    // Sizes in megabytes are sizes too, and fp copies no stack to size.
    let refused = [
        (&["--stack-size", "1M"][..], "1048576 bytes is out of range: 8 to 65528"),
        (&["--stack-size", "-16"][..], "\"-16\" is not a size in bytes"),
        (&["--call-graph", "fp", "--stack-size", "8K"][..], "--call-graph fp copies none"),
    ];
    for (flags, message) in refused {
        let output = firebox()
            .arg("record")
            .args(flags)
            .args(["-o", "/tmp/x.svg", "--", "true"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
}

/// Records `seconds` of the fixture workload `source`, built with `flags`,
/// under `--call-graph dwarf`.
fn record_workload(name: &str, source: &str, flags: &[&str], seconds: &str) -> Run {
    let binary = std::env::temp_dir().join(format!("firebox-it-{}-{name}", std::process::id()));
    compile(&[fixtures().join("workloads").join(source)], &binary, flags);
    let run = record_run(name, &binary, &["--call-graph", "dwarf"], seconds);
    let _ = std::fs::remove_file(&binary);
    run
}

/// A signal handler's stack goes on through the sigreturn trampoline into
/// the code the signal interrupted, down to `_start`.
#[test]
fn stacks_go_through_signal_handlers() {
    let _turn = crate::support::cpu_turn();
    let Run { stacks, .. } = record_workload("unwind-signals", "signals.c", &["-O2", "-g"], "2");
    let chain: &[&[&str]] =
        &[START, &["main"], &["outer"], &["inner"], &["handler"], &["handler_work"]];
    let (share, samples) = whole_share(&stacks, "handler_work", &[chain]);
    assert!(samples > 50, "too few samples in the handler ({samples}): {stacks:#?}");
    assert!(share >= 90.0, "{share:.1}% of handler samples reach _start: {stacks:#?}");
}

/// A stack through code without unwind rules (a JIT's stub) is unwound
/// there by frame pointers, which skip the stub's caller `run`: it is kept,
/// counted as passing such code and never as whole, and firebox says why.
#[test]
fn code_without_rules_leaves_stacks_not_known_whole() {
    let _turn = crate::support::cpu_turn();
    let flags = ["-O2", "-g", "-fno-omit-frame-pointer"];
    let Run { stacks, counts, stderr } =
        record_workload("unwind-jitcall", "jitcall.c", &flags, "2");
    let (share, samples) = whole_share(&stacks, "work", &[&[START, &["main"], &["callback"]]]);
    assert!(samples > 100 && share >= 90.0, "{share:.1}% of {samples}: {stacks:#?}");
    let through = counts["through_code_without_rules"].as_u64().unwrap();
    let with_user = counts["with_user_frames"].as_u64().unwrap();
    assert!(through * 100 >= with_user * 90, "{counts:#}");
    assert!(counts["whole"].as_u64().unwrap() * 10 <= with_user, "{counts:#}");
    assert!(stderr.contains("pass through code without unwind rules"), "{stderr}");
}

/// The same with a hand-written stub without rules inside a program whose
/// other code has them: the stub's address range, not its file, decides.
#[test]
fn a_stub_without_rules_in_a_module_with_rules_leaves_stacks_not_known_whole() {
    let _turn = crate::support::cpu_turn();
    let flags = ["-O2", "-g", "-fno-omit-frame-pointer"];
    let Run { stacks, counts, .. } = record_workload("unwind-asmstub", "asmstub.c", &flags, "2");
    let (_, samples) = whole_share(&stacks, "work", &[&[START, &["main"], &["stub"]]]);
    assert!(samples > 100, "too few samples in work ({samples}): {stacks:#?}");
    let through = counts["through_code_without_rules"].as_u64().unwrap();
    let with_user = counts["with_user_frames"].as_u64().unwrap();
    assert!(through * 100 >= with_user * 80, "{counts:#}");
    assert!(counts["whole"].as_u64().unwrap() * 5 <= with_user, "{counts:#}");
}

/// A stack deeper than the unwinder follows (3000 frames of recursion in
/// a 64 KiB copy) is cut there, and says so with a `[truncated]` frame.
#[test]
fn a_stack_cut_by_the_unwinder_says_so() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("unwind-cut");
    let binary = dir.path("deep");
    let flags = [
        "-DDEPTH=3000",
        "-O2",
        "-fno-omit-frame-pointer",
        "-fno-stack-protector",
        "-static",
        "-nostdlib",
    ];
    compile(&[fixtures().join("workloads/fpleaf.c")], &binary, &flags);
    let out = dir.path("deep.folded");
    let output = firebox()
        .args(["record", "--call-graph", "dwarf", "--stack-size", "65528", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&binary)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stacks = read_folded(&out);
    let total: u64 = stacks.values().sum();
    let cut: u64 =
        stacks.iter().filter(|(s, _)| s.starts_with("deep;[truncated];")).map(|(_, n)| n).sum();
    assert!(total > 100 && cut * 100 >= total * 90, "{cut} of {total} cut: {stacks:#?}");
}

/// A frame-pointer walk through libc, which keeps no frame pointers, skips
/// callers (memset's `fill`) and may still end at a thread's entry point:
/// such stacks are not counted whole (they were, some 15% of them).
#[test]
fn walks_through_code_without_frame_pointers_are_not_whole() {
    let binary = build_chain("chain-fp", &["-fno-omit-frame-pointer"]);
    let run = record_run("unwind-fp-whole", &binary, &["--call-graph", "fp"], "2");
    let to_entry: u64 = run
        .stacks
        .iter()
        .filter(|(s, _)| s.starts_with("chain-fp;start_thread;worker;outer;__memset"))
        .map(|(_, n)| n)
        .sum();
    assert!(to_entry >= 5, "no walk from memset reached start_thread: {:#?}", run.stacks);
    // Whole are only the few samples in the workload's own code right
    // under an entry point (worker, called by start_thread).
    let counts = &run.counts;
    let whole = counts["whole"].as_u64().unwrap();
    assert!(whole * 20 <= counts["with_user_frames"].as_u64().unwrap(), "{counts:#}");
}
