//! `firebox diff` on real recordings: the knob workload recorded by
//! `firebox record`, by `perf record` + `inferno-collapse-perf`, and by Go's
//! runtime/pprof.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use firebox::diff::report::{Report, ReportOptions};
use firebox::diff::{DiffOptions, ProfileDiff};
use firebox::Profile;
use firebox_collectors::formats::{self, ReadOptions};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{diff_fixtures, diff_ok, significant_names, total_change};
use crate::support::{compile, describe, firebox};

/// How much CPU time each recording burns: about 600 samples at 99 Hz,
/// enough that a share moves by less than 2.7 points (one standard error
/// of the difference) between two runs of the same knob.
const SECONDS: &str = "6";

/// How far a measured change may be from the designed 20 points: three
/// standard errors of a difference of shares near 30% at 600 samples a
/// side.
const TOLERANCE: f64 = 8.0;

/// The family-wise error rate the tests on real recordings use. At the
/// default 0.05 a sound test flags a function that did not change in up to
/// one comparison in twenty, by design; a CI test must not turn that into a
/// failure, so real recordings are judged at 0.001 (a 20-point change at
/// 600 samples is still more than 7 standard errors). The false-alarm rate
/// at the default is measured on resampled pairs instead.
const ALPHA: &str = "0.001";

/// A directory for files shared by several tests, kept for the whole run.
fn shared_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("firebox-it-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create a directory for recordings");
        dir
    })
}

/// The knob workload, compiled once with frame pointers.
pub fn knob_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = shared_dir().join("knob");
        compile(&[diff_fixtures().join("knob.c")], &out, &["-O1", "-g", "-fno-omit-frame-pointer"]);
        out
    })
}

/// Four recordings by `firebox record`: two at knob 20, two at knob 40.
struct Knob {
    a20: PathBuf,
    b20: PathBuf,
    c40: PathBuf,
    d40: PathBuf,
}

fn knob_recordings() -> &'static Knob {
    static REC: OnceLock<Knob> = OnceLock::new();
    REC.get_or_init(|| Knob {
        a20: record(20, "a20"),
        b20: record(20, "b20"),
        c40: record(40, "c40"),
        d40: record(40, "d40"),
    })
}

/// Records the knob workload at `share` with `firebox record -F 99`.
fn record(share: u32, name: &str) -> PathBuf {
    let _turn = crate::support::cpu_turn();
    let out = shared_dir().join(format!("{name}.folded"));
    let output = firebox()
        .args(["record", "-F", "99", "-o"])
        .arg(&out)
        .arg("--")
        .arg(knob_binary())
        .args([&share.to_string(), SECONDS])
        .output()
        .unwrap();
    assert!(output.status.success(), "firebox record failed: {}", describe(&output));
    out
}

fn read(path: &Path) -> Profile {
    formats::read_path(path, &ReadOptions::default()).unwrap()
}

/// Knob 20 against knob 40, both recorded by `firebox record`: `rising`
/// is a significant rise of about 20 points, `falling` a significant fall
/// of about 20, and nothing else is flagged; --fail-on-regression 10 exits
/// 1, --fail-on-regression 30 exits 0.
#[test]
fn knob_change_is_flagged_and_nothing_else() {
    let rec = knob_recordings();
    let dir = shared_dir().join("change");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("diff.json");
    let svg = dir.join("diff.svg");
    diff_ok(&[&rec.a20, &rec.c40, &"--summary", &json, &"-o", &svg, &"--alpha", &ALPHA], 0);

    let flagged = significant_names(&json);
    assert_eq!(
        flagged,
        BTreeSet::from(["falling".to_string(), "rising".to_string()]),
        "{}",
        std::fs::read_to_string(&json).unwrap()
    );
    let rise = total_change(&json, "rising");
    let fall = total_change(&json, "falling");
    assert!((rise - 20.0).abs() <= TOLERANCE, "rising moved {rise:+.1} points, expected +20");
    assert!((fall + 20.0).abs() <= TOLERANCE, "falling moved {fall:+.1} points, expected -20");

    let output = diff_ok(&[&rec.a20, &rec.c40, &"--fail-on-regression", &"10"], 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("regression") && stderr.contains("rising"), "{stderr}");
    assert!(!stderr.contains("falling"), "a fall is no regression: {stderr}");
    diff_ok(&[&rec.a20, &rec.c40, &"--fail-on-regression", &"30"], 0);
    // The other direction: rising fell, falling rose.
    let output = diff_ok(&[&rec.c40, &rec.a20, &"--fail-on-regression", &"10"], 1);
    assert!(String::from_utf8_lossy(&output.stderr).contains("falling"));
}

/// Two recordings at the same knob, twice over: nothing is flagged and
/// --fail-on-regression 2 exits 0 (at [`ALPHA`]).
#[test]
fn same_knob_flags_nothing() {
    let rec = knob_recordings();
    let dir = shared_dir().join("same");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (base, head)) in [(&rec.a20, &rec.b20), (&rec.c40, &rec.d40)].into_iter().enumerate() {
        let json = dir.join(format!("same-{i}.json"));
        diff_ok(
            &[base, head, &"--summary", &json, &"--alpha", &"0.001", &"--fail-on-regression", &"2"],
            0,
        );
        assert_eq!(
            significant_names(&json),
            BTreeSet::new(),
            "{}",
            std::fs::read_to_string(&json).unwrap()
        );
    }
}

/// Draws `n` samples with replacement from `profile`'s stacks.
fn resample(profile: &Profile, n: u64, rng: &mut StdRng) -> Profile {
    let mut stacks: Vec<(Vec<firebox::Frame>, u64)> =
        profile.stacks().map(|(s, w)| (profile.resolve(s).cloned().collect(), w)).collect();
    stacks.sort();
    let weights = WeightedIndex::new(stacks.iter().map(|(_, w)| *w)).unwrap();
    let mut counts = vec![0u64; stacks.len()];
    for _ in 0..n {
        counts[weights.sample(rng)] += 1;
    }
    let mut out = Profile::new(profile.meta.clone());
    for ((frames, _), count) in stacks.into_iter().zip(counts) {
        out.add_frames(frames, count);
    }
    out
}

fn flags(base: &Profile, head: &Profile) -> BTreeSet<String> {
    let diff = ProfileDiff::new(base, head, &DiffOptions::default()).unwrap();
    let report = Report::new(&diff, &ReportOptions::default());
    report.significant().map(|f| f.name.clone()).collect()
}

/// The false-alarm rate at the default alpha of 0.05, measured on 400
/// pairs drawn from one real recording (multinomial resampling, both sides
/// from the same distribution): at most 7% of pairs flag anything. And the
/// test has power: 100 pairs drawn from the knob-20 and the knob-40
/// recordings flag `rising` in at least 95.
#[test]
fn resampled_pairs_rarely_flag() {
    let rec = knob_recordings();
    let a20 = read(&rec.a20);
    let c40 = read(&rec.c40);
    let n = a20.total();
    assert!(n >= 300, "the recording holds only {n} samples");
    let mut rng = StdRng::seed_from_u64(0x5eed_d1ff);

    let pairs = 400;
    let mut alarms = 0;
    for _ in 0..pairs {
        let base = resample(&a20, n, &mut rng);
        let head = resample(&a20, n, &mut rng);
        if !flags(&base, &head).is_empty() {
            alarms += 1;
        }
    }
    assert!(alarms * 100 <= pairs * 7, "{alarms} of {pairs} same-workload pairs flagged something");

    let mut found = 0;
    for _ in 0..100 {
        let base = resample(&a20, n, &mut rng);
        let head = resample(&c40, c40.total(), &mut rng);
        if flags(&base, &head).contains("rising") {
            found += 1;
        }
    }
    assert!(found >= 95, "only {found} of 100 knob-20 vs knob-40 pairs flagged rising");
}

/// Runs `program` with `args`, failing with `what` when it cannot start.
fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>], what: &str) -> std::process::Output {
    let output = Command::new(program)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap_or_else(|e| panic!("`{program}` is needed ({what}): {e}"));
    assert!(output.status.success(), "`{program}` failed: {}", describe(&output));
    output
}

/// The knob workload recorded by `perf record -g`, collapsed by
/// `inferno-collapse-perf`: firebox reads the other tool's folded files
/// (weighted by the sampling period, which the diff divides out) and flags
/// the same two functions and nothing else.
#[test]
fn perf_and_inferno_folded_pair() {
    let dir = shared_dir().join("perf");
    std::fs::create_dir_all(&dir).unwrap();
    let mut folded = Vec::new();
    for share in ["20", "40"] {
        let data = dir.join(format!("knob{share}.data"));
        let script = dir.join(format!("knob{share}.perf"));
        let out = dir.join(format!("knob{share}.folded"));
        run(
            "perf",
            &[
                &"record",
                &"-q",
                &"-e",
                &"cpu-clock",
                &"-F",
                &"99",
                &"-g",
                &"-o",
                &data,
                &"--",
                &knob_binary(),
                &share,
                &SECONDS,
            ],
            "Debian's linux-perf",
        );
        let text = run("perf", &[&"script", &"-i", &data], "Debian's linux-perf").stdout;
        std::fs::write(&script, text).unwrap();
        let collapsed = run("inferno-collapse-perf", &[&script], "`cargo install inferno`").stdout;
        std::fs::write(&out, collapsed).unwrap();
        folded.push(out);
    }

    let json = dir.join("diff.json");
    diff_ok(&[&folded[0], &folded[1], &"--summary", &json, &"--alpha", &ALPHA], 0);
    assert_eq!(
        significant_names(&json),
        BTreeSet::from(["falling".to_string(), "rising".to_string()]),
        "{}",
        std::fs::read_to_string(&json).unwrap()
    );
    let rise = total_change(&json, "rising");
    let fall = total_change(&json, "falling");
    assert!((rise - 20.0).abs() <= TOLERANCE, "rising moved {rise:+.1} points, expected +20");
    assert!((fall + 20.0).abs() <= TOLERANCE, "falling moved {fall:+.1} points, expected -20");
}

/// Go's runtime/pprof CPU profiles of the Go knob workload at 20 and 40:
/// the pprof reader's nanoseconds are counted as samples of one period,
/// `main.rising` is a significant rise of about 20 points, `main.falling`
/// a fall, and nothing else is flagged.
#[test]
fn go_pprof_pair() {
    let dir = shared_dir().join("go");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("knob.go");
    std::fs::copy(diff_fixtures().join("knob.go"), &source).unwrap();
    let mut profiles = Vec::new();
    for share in ["20", "40"] {
        let out = dir.join(format!("knob{share}.pb.gz"));
        let output = Command::new("go")
            .args(["run", "knob.go", share, SECONDS])
            .arg(&out)
            .current_dir(&dir)
            .env("GOCACHE", dir.join("gocache"))
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            // Async preemption stacks `runtime.asyncPreempt` on the running
            // function, at a rate that moves with how long each call runs,
            // so the knob would shift its share too; off, only the
            // workload's own functions move.
            .env("GODEBUG", "asyncpreemptoff=1")
            .output()
            .unwrap_or_else(|e| panic!("`go` (Debian's golang-go) is needed: {e}"));
        assert!(output.status.success(), "go run failed: {}", describe(&output));
        profiles.push(out);
    }

    let json = dir.join("diff.json");
    let output = diff_ok(&[&profiles[0], &profiles[1], &"--summary", &json, &"--alpha", &ALPHA], 0);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" samples ("), "nanoseconds shown as samples: {stdout}");
    assert_eq!(
        significant_names(&json),
        BTreeSet::from(["main.falling".to_string(), "main.rising".to_string()]),
        "{}",
        std::fs::read_to_string(&json).unwrap()
    );
    let rise = total_change(&json, "main.rising");
    let fall = total_change(&json, "main.falling");
    assert!((rise - 20.0).abs() <= TOLERANCE, "main.rising moved {rise:+.1} points");
    assert!((fall + 20.0).abs() <= TOLERANCE, "main.falling moved {fall:+.1} points");
}
