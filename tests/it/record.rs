//! `firebox record` on real processes: shares, chains and sample counts of a
//! workload with a known split, threads, `--pid`, the SVG, and every error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{compile, describe, firebox, fixtures, run_firebox, Scratch};

/// The `split` workload, built once per test run with frame pointers.
pub fn split_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("firebox-it-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create a directory for test binaries");
        let out = dir.join("split");
        compile(
            &[fixtures().join("workloads/split.c")],
            &out,
            &["-O1", "-g", "-fno-omit-frame-pointer", "-pthread"],
        );
        out
    })
}

/// A folded file read back: stack text to count.
pub fn read_folded(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("a folded line has a count");
            (stack.to_string(), count.parse().expect("a folded count is a number"))
        })
        .collect()
}

/// The share (0 to 100) of samples whose stack holds `frame`.
pub fn share_of(stacks: &BTreeMap<String, u64>, frame: &str) -> f64 {
    let total: u64 = stacks.values().sum();
    let hit: u64 = stacks
        .iter()
        .filter(|(stack, _)| stack.split(';').any(|f| f == frame))
        .map(|(_, n)| n)
        .sum();
    100.0 * hit as f64 / total as f64
}

fn total(stacks: &BTreeMap<String, u64>) -> u64 {
    stacks.values().sum()
}

fn read_cpu_seconds(path: &Path) -> f64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the workload wrote no CPU time to {}: {e}", path.display()))
        .trim()
        .parse()
        .expect("the CPU time is a number")
}

/// Asserts `samples` is within 15% of 99 Hz times `cpu_seconds`.
fn assert_rate(samples: u64, cpu_seconds: f64) {
    assert_rate_at(99.0, samples, cpu_seconds);
}

/// Asserts `samples` is within 15% of `hz` times `cpu_seconds`.
fn assert_rate_at(hz: f64, samples: u64, cpu_seconds: f64) {
    let expected = hz * cpu_seconds;
    let off = (samples as f64 - expected).abs() / expected;
    assert!(
        off <= 0.15,
        "{samples} samples for {cpu_seconds:.2} CPU seconds: {:.1}% away from {hz} Hz",
        off * 100.0
    );
}

fn assert_split(stacks: &BTreeMap<String, u64>) {
    let hot = share_of(stacks, "hot");
    let cold = share_of(stacks, "cold");
    assert!(
        (hot - 75.0).abs() <= 5.0,
        "hot has {hot:.1}% of samples, expected 75 ± 5: {stacks:#?}"
    );
    assert!((cold - 25.0).abs() <= 5.0, "cold has {cold:.1}% of samples, expected 25 ± 5");
}

fn has_chain(stacks: &BTreeMap<String, u64>, chain: &str) -> bool {
    stacks.keys().any(|s| s.contains(chain))
}

/// Records the `split` workload with `workload` arguments into `out`,
/// with extra `flags` before `-o`, and asserts the recording succeeded.
fn record_split(out: &Path, flags: &[&str], workload: &[&str]) -> std::process::Output {
    let output = firebox()
        .arg("record")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg("--")
        .arg(split_binary())
        .args(workload)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    output
}

/// Panics unless `svg` is well-formed XML.
fn assert_well_formed(svg: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("the SVG is not well-formed XML at {}: {e}", reader.buffer_position()),
        }
    }
}

/// A 5-second recording of a command gives the designed split, the chain
/// from main to hot, and about 99 samples per CPU second.
#[test]
fn command_shares_chain_and_rate() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-command");
    let out = dir.path("split.folded");
    let cpu = dir.path("cpu");
    let output = firebox()
        .args(["record", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .arg("5")
        .env("FIREBOX_CPU_FILE", &cpu)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let stacks = read_folded(&out);
    assert_split(&stacks);
    assert!(has_chain(&stacks, "split;"), "the root frame is the process name: {stacks:#?}");
    assert!(has_chain(&stacks, "main;run;step;hot"), "no main;run;step;hot chain: {stacks:#?}");
    assert_rate(total(&stacks), read_cpu_seconds(&cpu));
}

/// Worker threads started after the recording began are sampled, each
/// under its thread name with --per-thread.
#[test]
fn threads_started_later_are_sampled() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-threads");
    let out = dir.path("threads.folded");
    let cpu = dir.path("cpu");
    let output = firebox()
        .args(["record", "--per-thread", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .args(["5", "2", "300"])
        .env("FIREBOX_CPU_FILE", &cpu)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let stacks = read_folded(&out);
    assert_split(&stacks);
    let worker = share_of(&stacks, "worker");
    assert!(worker > 95.0, "worker threads hold {worker:.1}% of samples: {stacks:#?}");
    assert!(has_chain(&stacks, "split;worker;"), "thread frame under the process: {stacks:#?}");
    assert!(has_chain(&stacks, "run;step;hot"));
    assert_rate(total(&stacks), read_cpu_seconds(&cpu));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The main thread only waits; the summary counts the two that ran.
    assert!(stderr.contains("2 threads"), "the summary counts 2 sampled threads: {stderr}");
}

/// A thread that keeps the name it was started with is named by it, also
/// in the samples named after it ended: the chain workload's second thread
/// is `chain` like its main thread, never `[tid N]`.
#[test]
fn threads_keep_the_name_they_were_started_with() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-thread-names");
    let out = dir.path("threads.folded");
    let output = firebox()
        .args(["record", "--per-thread", "-o"])
        .arg(&out)
        .arg("--")
        .arg(crate::unwind::chain_binary())
        .arg("2")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stacks = read_folded(&out);
    assert!(total(&stacks) > 200, "too few samples: {stacks:#?}");
    let unnamed: Vec<&String> = stacks.keys().filter(|s| !s.starts_with("chain;chain;")).collect();
    assert!(unnamed.is_empty(), "stacks not under chain;chain: {unnamed:#?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2 threads"), "both threads sampled: {stderr}");
}

/// Forty threads sampled at 499 Hz with stack copies fill the rings with
/// some 16 MB a second, while their first samples make firebox read libc's
/// unwind tables and debug info: no sample is lost all the same, and the
/// rate holds.
#[test]
fn many_threads_with_stack_copies_lose_nothing() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-many-threads");
    let out = dir.path("many.folded");
    let cpu = dir.path("cpu");
    let output = firebox()
        .args(["record", "-F", "499", "--call-graph", "dwarf", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .args(["0.2", "40"])
        .env("FIREBOX_CPU_FILE", &cpu)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(" samples, 0 lost,"), "samples were lost: {stderr}");
    let threads: u32 = stderr
        .split(" threads,")
        .next()
        .and_then(|head| head.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no thread count in the summary: {stderr}"));
    // The main thread, which only starts and joins the workers, may be
    // caught once too.
    assert!((40..=41).contains(&threads), "{threads} threads sampled, not 40: {stderr}");
    assert_rate_at(499.0, total(&read_folded(&out)), read_cpu_seconds(&cpu));
}

/// Reads utime + stime of a live process from /proc, in seconds.
fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the comm.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn spawn_split(args: &[&str]) -> Child {
    Command::new(split_binary()).args(args).stdout(Stdio::null()).spawn().unwrap()
}

/// Records the running `child` by pid for `duration` into `out` (extra
/// `flags` first), then ends it. Returns what firebox did and the CPU
/// seconds the child used meanwhile.
fn record_pid_then_kill(
    mut child: Child,
    flags: &[&str],
    duration: &str,
    out: &Path,
) -> (std::process::Output, f64) {
    let before = proc_cpu_seconds(child.id());
    let output = firebox()
        .arg("record")
        .args(flags)
        .args(["-d", duration, "-p", &child.id().to_string(), "-o"])
        .arg(out)
        .output()
        .unwrap();
    let cpu = proc_cpu_seconds(child.id()) - before;
    let _ = child.kill();
    let _ = child.wait();
    (output, cpu)
}

/// firebox run by `sh` after `prelude` (a `ulimit`, a `trap`), so it starts
/// with what the prelude set.
fn firebox_after(prelude: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{prelude} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_firebox"));
    command
}

/// `--pid` on a process that is already running samples all its threads,
/// including one it starts after the recording began.
#[test]
fn pid_of_running_process() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-pid");
    let out = dir.path("pid.folded");
    let child = spawn_split(&["20", "2", "0", "1500"]);
    std::thread::sleep(Duration::from_millis(300));
    let (output, cpu) = record_pid_then_kill(child, &["--per-thread"], "5s", &out);
    assert!(output.status.success(), "{}", describe(&output));

    let stacks = read_folded(&out);
    assert_split(&stacks);
    assert!(share_of(&stacks, "late") > 10.0, "the late thread is sampled: {stacks:#?}");
    assert!(has_chain(&stacks, "run;step;hot"));
    assert_rate(total(&stacks), cpu);
}

/// The SVG is well-formed XML, titled with the target and sample count, and
/// names the hot function.
#[test]
fn svg_parses_and_names_hot() {
    let dir = Scratch::new("record-svg");
    let out = dir.path("split.svg");
    record_split(&out, &[], &["1"]);

    let svg = std::fs::read_to_string(&out).unwrap();
    assert_well_formed(&svg);
    assert!(svg.contains("<title>hot ("), "no frame named hot in the SVG");
    assert!(svg.contains("firebox record: "), "the title names the recording");
    assert!(svg.contains(" samples)"), "the title gives the sample count");
}

fn assert_error(output: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "firebox panicked: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// A pid that names no process is an error with exit code 2.
#[test]
fn missing_pid_is_an_error() {
    let pid_max: u32 =
        std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let output = run_firebox(["record", "-p", &(pid_max + 1).to_string(), "-o", "/tmp/x.svg"]);
    assert_error(&output, 2, "no process with pid");
}

/// A command that is not on PATH is an error with exit code 2.
#[test]
fn missing_command_is_an_error() {
    let output = run_firebox(["record", "-o", "/tmp/x.svg", "--", "firebox-no-such-command"]);
    assert_error(&output, 2, "command not found: firebox-no-such-command");
}

/// An output directory that does not exist is reported before the command
/// runs.
#[test]
fn missing_output_directory_is_an_error() {
    let dir = Scratch::new("record-outdir");
    let marker = dir.path("ran");
    let output = firebox()
        .args(["record", "-o", "/nonexistent-firebox-dir/x.svg", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_error(&output, 2, "the output directory /nonexistent-firebox-dir does not exist");
    assert!(!marker.exists(), "the command must not run when the output cannot be written");
}

/// A command that uses no CPU gives no samples: exit code 1, and no SVG.
#[test]
fn zero_samples_writes_nothing() {
    let dir = Scratch::new("record-empty");
    let out = dir.path("empty.svg");
    let output =
        firebox().args(["record", "-o"]).arg(&out).args(["--", "sleep", "0.5"]).output().unwrap();
    assert_error(&output, 1, "no samples were collected");
    assert!(!out.exists(), "no SVG from an empty profile");
}

/// Without permission for perf_event the error names the sysctl and the
/// capability that fix it.
#[test]
fn no_permission_names_the_fix() {
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        paranoid >= 2,
        "this test needs kernel.perf_event_paranoid >= 2 (it is {paranoid}) so that an \
         unprivileged user may not sample the kernel"
    );
    let bin = env!("CARGO_BIN_EXE_firebox");
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin])
        .args(["record", "-o", "/tmp/firebox-denied.svg", "--", "true"])
        .output()
        .expect("setpriv (util-linux) is needed to run firebox as an unprivileged user");
    assert_error(&output, 2, "kernel.perf_event_paranoid");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CAP_PERFMON"), "{stderr}");
}

/// A process that exits in the middle of the recording: what was collected
/// is written, with a warning, and the exit code is 0.
#[test]
fn target_exiting_midway_keeps_samples() {
    let dir = Scratch::new("record-exit");
    let out = dir.path("exit.folded");
    let mut child = spawn_split(&["1.5"]);
    let started = Instant::now();
    let output = firebox()
        .args(["record", "-d", "20s", "-p", &child.id().to_string(), "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let _ = child.wait();
    assert!(output.status.success(), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(10), "the recording ends with the target");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exited after"), "a warning says the target exited: {stderr}");
    let stacks = read_folded(&out);
    assert!(total(&stacks) >= 20, "the samples before the exit are kept: {stacks:#?}");
}

/// Ctrl-C (SIGINT) ends the recording early and the profile is still
/// written.
#[test]
fn interrupt_still_writes_the_profile() {
    let dir = Scratch::new("record-sigint");
    let out = dir.path("int.folded");
    let pid_file = dir.path("pid");
    let mut recorder = firebox()
        .args(["record", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .arg("30")
        .env("FIREBOX_PID_FILE", &pid_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the workload has had a CPU second, however busy the
    // machine is.
    let deadline = Instant::now() + Duration::from_secs(60);
    let workload_cpu = loop {
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse().ok());
        let cpu = pid.map_or(0.0, proc_cpu_seconds);
        if cpu >= 1.0 || Instant::now() > deadline {
            break cpu;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let started = Instant::now();
    // SIGINT to firebox only: a terminal's Ctrl-C would reach the workload
    // too, so stop it here as well.
    Command::new("kill").args(["-INT", &recorder.id().to_string()]).status().unwrap();
    let status = recorder.wait().unwrap();
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    assert!(status.success(), "firebox exited with {status}");
    assert!(started.elapsed() < Duration::from_secs(5), "SIGINT ends the recording at once");
    let stacks = read_folded(&out);
    let kept = total(&stacks) as f64;
    assert!(
        kept >= 0.85 * 99.0 * workload_cpu,
        "{kept} samples kept for {workload_cpu:.2} CPU seconds before the interrupt: {stacks:#?}"
    );
}

/// Kernel frames carry the `_[k]` suffix, and `--no-kernel` leaves them out.
#[test]
fn kernel_frames_and_no_kernel() {
    let dir = Scratch::new("record-kernel");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path(name);
        let output = firebox()
            .arg("record")
            .args(extra)
            .arg("-o")
            .arg(&out)
            .args(["--", "dd", "if=/dev/zero", "of=/dev/null", "bs=64k", "count=600000"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        read_folded(&out)
    };
    let with = run("kernel.folded", &[]);
    let in_kernel: u64 = with.iter().filter(|(s, _)| s.ends_with("_[k]")).map(|(_, n)| n).sum();
    let share = 100.0 * in_kernel as f64 / total(&with) as f64;
    assert!(share > 50.0, "dd spends most time in the kernel, got {share:.1}%: {with:#?}");
    assert!(has_chain(&with, "dd;"), "{with:#?}");

    let without = run("user.folded", &["--no-kernel"]);
    assert!(!without.keys().any(|s| s.contains("_[k]")), "kernel frames despite --no-kernel");

    // Through pprof and back, kernel frames are still kernel frames.
    let pprof = dir.path("kernel.pprof");
    let output = firebox()
        .args(["record", "-o"])
        .arg(&pprof)
        .args(["--", "dd", "if=/dev/zero", "of=/dev/null", "bs=64k", "count=600000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let back = dir.path("back.folded");
    let output = firebox().arg("convert").arg(&pprof).arg("-o").arg(&back).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let back = read_folded(&back);
    assert!(back.keys().any(|s| s.ends_with("_[k]")), "kernel frames survive pprof: {back:#?}");
}

/// `--title` sets the SVG title, escaped for XML.
#[test]
fn title_is_escaped_in_the_svg() {
    let dir = Scratch::new("record-title");
    let out = dir.path("t.svg");
    record_split(&out, &["--title", "a & b <c>"], &["0.3"]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("a &amp; b &lt;c&gt;"), "the title is escaped");
    assert!(!svg.contains("a & b <c>"), "the raw title must not appear");
}

/// A recording written as pprof opens in `go tool pprof`, which sees the
/// designed split (at 499 Hz: five times the samples, so the split's noise
/// is well inside the tolerance); written as speedscope JSON it names the same functions.
#[test]
fn recording_as_pprof_and_speedscope() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-pprof");
    let pprof = dir.path("split.pprof");
    record_split(&pprof, &["-F", "499"], &["5"]);

    let top = crate::formats::stdout_of(
        crate::formats::tool("go", "Debian's golang-go")
            .args(["tool", "pprof", "-top"])
            .arg(&pprof),
    );
    // `go tool pprof -top` rows: flat flat% sum% cum cum% name
    let percent = |name: &str, column: usize| -> f64 {
        top.lines()
            .find(|l| l.split_whitespace().last() == Some(name))
            .and_then(|l| l.split_whitespace().nth(column)?.trim_end_matches('%').parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from go tool pprof -top:\n{top}"))
    };
    let (flat, cum) = (1, 4);
    assert!((percent("spin", flat) - 100.0).abs() <= 5.0, "spin is almost every leaf:\n{top}");
    assert!((percent("hot", cum) - 75.0).abs() <= 5.0, "hot's cumulative share:\n{top}");
    assert!((percent("cold", cum) - 25.0).abs() <= 5.0, "cold's cumulative share:\n{top}");

    let json = dir.path("split.json");
    record_split(&json, &[], &["0.5"]);
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(text.contains("speedscope.app/file-format-schema.json"), "a speedscope file");
    assert!(text.contains("\"name\":\"hot\""), "names the hot function");
}

/// A stderr that cannot be written (a full device) costs neither the
/// profile nor the exit code.
#[test]
fn full_stderr_is_no_panic() {
    let dir = Scratch::new("record-devfull");
    let out = dir.path("x.folded");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let status = firebox()
        .args(["record", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .arg("0.3")
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(total(&read_folded(&out)) > 0);
}

/// An output that cannot be written is reported before anything runs: a
/// directory in its place, or a program that is no program.
#[test]
fn unwritable_output_and_bad_programs_fail_first() {
    let dir = Scratch::new("record-unwritable");
    let marker = dir.path("ran");
    let taken = dir.path("taken.svg");
    std::fs::create_dir(&taken).unwrap();
    let output = firebox()
        .arg("record")
        .arg("-o")
        .arg(&taken)
        .arg("--")
        .arg("touch")
        .arg(&marker)
        .output()
        .unwrap();
    assert_error(&output, 2, "is a directory: give a file name");
    assert!(!marker.exists(), "the command must not run");

    let bad = dir.path("bad-elf");
    std::fs::write(&bad, b"\x7fELF but not really").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = firebox().args(["record", "-o", "/tmp/x.svg", "--"]).arg(&bad).output().unwrap();
    assert_error(&output, 2, "Exec format error");
}

/// When the recording of a command ends first (its duration is up), the
/// command is stopped, not left running.
#[test]
fn duration_stops_the_command() {
    let dir = Scratch::new("record-stop");
    let pid_file = dir.path("pid");
    let output = firebox()
        .args(["record", "-d", "1s", "-o"])
        .arg(dir.path("x.folded"))
        .arg("--")
        .arg(split_binary())
        .arg("60")
        .env("FIREBOX_PID_FILE", &pid_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    std::thread::sleep(Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
    assert!(matches!(state, None | Some('Z')), "the workload {pid} still runs: {stat}");
}

/// On a full disk the old output stays whole, and the samples are saved
/// elsewhere with a line that says where.
#[test]
fn full_disk_keeps_the_old_file_and_the_samples() {
    let dir = Scratch::new("record-fulldisk");
    let mount = dir.path("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&mount)
        .status()
        .expect("mount (util-linux) is needed to make a small full disk");
    assert!(mounted.success(), "this test mounts a 16 KiB tmpfs and needs root");
    let old = mount.join("old.svg");
    std::fs::write(&old, "<svg>old</svg>").unwrap();
    let output = firebox()
        .arg("record")
        .arg("-o")
        .arg(&old)
        .arg("--")
        .arg(split_binary())
        .arg("1")
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&mount).status();

    assert_error(&output, 2, "saved as folded stacks to ");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let saved =
        stderr.split("saved as folded stacks to ").nth(1).unwrap().split(':').next().unwrap();
    let rescued = read_folded(Path::new(saved.trim()));
    assert!(share_of(&rescued, "hot") > 50.0, "the rescued samples are the recording's");
    let _ = std::fs::remove_file(saved.trim());
}

/// Control characters, in a title or a name, never make the SVG invalid.
#[test]
fn control_characters_keep_the_svg_valid() {
    let dir = Scratch::new("record-ctrl");
    let out = dir.path("c.svg");
    record_split(&out, &["--title", "a\u{1}b\u{1b}c"], &["0.3"]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert_well_formed(&svg);
    assert!(svg.contains("a\u{fffd}b\u{fffd}c"), "control characters become U+FFFD");
}

/// A zero duration is refused before anything runs.
#[test]
fn zero_duration_is_refused() {
    let output = run_firebox(["record", "-d", "0s", "-o", "/tmp/x.svg", "--", "true"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is no time at all"));
}

/// An empty or malformed container or image name is refused before Docker
/// is asked.
#[test]
fn malformed_container_names_are_refused() {
    for (flag, name, needle) in [
        ("--container", "", "a container needs a name or an id"),
        ("--container", "a/b", "is no container name or id"),
        ("--debug-image", "", "an image needs a name or an id"),
    ] {
        let output = run_firebox(["record", flag, name, "-o", "/tmp/x.svg", "--", "true"]);
        assert_eq!(output.status.code(), Some(2), "{name:?}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{name:?}: {stderr}");
        assert!(!stderr.contains("Docker"), "{name:?} reached Docker: {stderr}");
    }
}

/// `--json-summary -` prints the summary on stdout; one file for both the
/// profile and the summary, however spelled, is refused before anything
/// runs.
#[test]
fn json_summary_on_stdout_and_clashing_paths() {
    let dir = Scratch::new("record-summary");
    let out = dir.path("split.folded");
    let output = record_split(&out, &["--json-summary", "-"], &["0.3"]);
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout holds the JSON summary");
    let samples = summary["samples"].as_u64().expect("the summary counts samples");
    assert_eq!(samples, total(&read_folded(&out)), "{summary:#}");
    assert!(!Path::new("-").exists(), "no file named `-` was written");

    // The same file, spelled the same, through `./`, and through a link.
    let link = dir.path("link.folded");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let dotted = out.parent().unwrap().join(".").join("split.folded");
    for summary in [out.clone(), dotted, link] {
        let output = firebox()
            .args(["record", "-o"])
            .arg(&out)
            .arg("--json-summary")
            .arg(&summary)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert_error(&output, 2, "give --json-summary a path of its own");
    }
}

/// A `--debug-dir` that does not exist is refused, not searched in vain.
#[test]
fn missing_debug_dir_is_refused() {
    let output = run_firebox([
        "record",
        "--debug-dir",
        "/nonexistent-firebox-debug",
        "-o",
        "/tmp/x.svg",
        "--",
        "true",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent-firebox-debug does not exist"), "{stderr}");
}

/// `--pid` of a process that has exited but is not yet reaped says so.
#[test]
fn zombie_pid_is_named_as_such() {
    // Our own child, not waited for until the end: a zombie once it exits.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id().to_string();
    let stat = format!("/proc/{pid}/stat");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&stat).unwrap_or_default().contains(") Z ") {
        assert!(std::time::Instant::now() < deadline, "`true` did not become a zombie");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let output = run_firebox(["record", "-p", &pid, "-o", "/tmp/x.svg"]);
    child.wait().unwrap();
    assert_error(&output, 2, &format!("pid {pid} has exited (a zombie"));
}

/// A process with more threads than firebox may open descriptors for (one
/// event per thread and CPU) gives the limit to ask for, not a bare EMFILE.
#[test]
fn too_few_descriptors_names_the_limit() {
    let mut child = spawn_split(&["20", "100", "0"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let output = firebox_after("ulimit -n 64")
        .args(["record", "-p", &child.id().to_string(), "-d", "1s", "-o", "/tmp/x.svg"])
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_error(&output, 2, "out of file descriptors after");
    assert!(String::from_utf8_lossy(&output.stderr).contains("`ulimit -n 256`"));
}

/// `--pid` of a process whose main thread has exited (a zombie) while its
/// workers burn on: the recording runs its whole duration and names the
/// workers' frames, through a live thread's maps and root; attaching
/// before and after the main thread exits both do.
#[test]
fn main_thread_exiting_first_ends_nothing() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-leader-exit");
    let binary = dir.path("leader_exit");
    compile(&[fixtures().join("workloads/leader_exit.c")], &binary, &["-O2", "-g", "-pthread"]);
    // (delay before the main thread exits, when firebox attaches)
    for (delay_ms, attach_after_ms) in [("700", 200), ("100", 500)] {
        let child = Command::new(&binary).args(["6", delay_ms]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(attach_after_ms));
        let out = dir.path(&format!("leader-{delay_ms}.folded"));
        let (output, cpu) = record_pid_then_kill(child, &[], "2s", &out);
        assert!(output.status.success(), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("exited after"), "the recording ended early: {stderr}");
        let stacks = read_folded(&out);
        // Sampled all along: 99 samples per CPU second the workers used
        // meanwhile, less what they used while firebox started, which on a
        // busy machine is a good part. A recording that ended with the main
        // thread would hold a quarter at most.
        let samples = total(&stacks);
        assert!(
            samples as f64 >= 0.5 * 99.0 * cpu,
            "{samples} samples for {cpu:.2} CPU s: {stderr}"
        );
        let burn = share_of(&stacks, "burn");
        assert!(burn >= 90.0, "burn named in {burn:.1}% of samples: {stacks:#?}");
    }
}

/// Started with SIGCHLD ignored (the kernel then reaps children itself),
/// firebox still writes what it collected from the command.
#[test]
fn ignored_sigchld_keeps_the_samples() {
    let dir = Scratch::new("record-sigchld");
    let out = dir.path("split.folded");
    let output = firebox_after("trap '' CHLD")
        .args(["record", "-o"])
        .arg(&out)
        .arg("--")
        .arg(split_binary())
        .arg("0.5")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert!(has_chain(&read_folded(&out), "main;run;step;hot"));
}

/// A main thread that starts and joins a thread every 0.1 ms is sampled
/// for all its CPU time: started by firebox, and attached to by pid.
#[test]
fn a_thread_that_starts_threads_all_the_time_is_sampled() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("record-spawner");
    let binary = dir.path("spawner");
    compile(&[fixtures().join("workloads/spawner.c")], &binary, &["-O2", "-g", "-pthread"]);

    let out = dir.path("command.folded");
    let output =
        firebox().args(["record", "-o"]).arg(&out).arg("--").arg(&binary).arg("2").output();
    let output = output.unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let samples = total(&read_folded(&out));
    // 2 CPU seconds of the main thread: 198 samples.
    assert!(samples >= 140, "{samples} samples of a command that used 2 CPU seconds");
    // Thread creation costs the main thread much of its time; spin the rest.
    let stacks = read_folded(&out);
    assert!(share_of(&stacks, "spin") >= 20.0, "spin is hardly sampled");
    // The main thread inside clone3 keeps its callers: clone3 is a
    // thread's entry point only at the root of the new thread's stack.
    let starting: Vec<&String> =
        stacks.keys().filter(|s| s.contains("clone3") && !s.contains("start_thread")).collect();
    assert!(starting.len() >= 3, "no samples of the main thread in clone3: {stacks:#?}");
    for stack in starting {
        assert!(stack.starts_with("spawner;_start;") && stack.contains(";main;"), "{stack}");
    }

    let child = Command::new(&binary).arg("20").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = dir.path("pid.folded");
    let (output, cpu) = record_pid_then_kill(child, &[], "2s", &out);
    assert!(output.status.success(), "{}", describe(&output));
    let samples = total(&read_folded(&out));
    // The short threads' own CPU counts too but is hardly sampled (nor by
    // perf, which gets about half of 99 Hz here); without the anchor event
    // the main thread got a tenth.
    assert!(samples as f64 >= 0.4 * 99.0 * cpu, "{samples} samples for {cpu:.2} CPU seconds");
}
