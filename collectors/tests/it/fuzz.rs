//! Every reader, fed arbitrary and mutated bytes, returns a profile or an
//! error; it never panics.

use firebox_collectors::formats::{self, Format, ReadOptions};
use proptest::prelude::*;

use crate::support::fixtures;

/// Valid inputs of each format, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    [
        "folded/simple-crlf.txt",
        "folded/with-space.txt",
        "perf-script/perf-java-faults-01.txt",
        "perf-script/single-line-stacks.txt",
        "pprof/go.nomappings.crash",
        "speedscope/two-sampled.speedscope.json",
        "async-profiler/sample1.collapsed",
    ]
    .iter()
    .map(|f| std::fs::read(fixtures().join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
    .chain([jfr_recording()])
    .collect()
}

/// A real JDK flight recording of `fixtures/jfr/Work.java`, made once per
/// test run (a committed one would carry the recording machine's
/// environment, which JFR stores).
fn jfr_recording() -> Vec<u8> {
    static RECORDING: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    RECORDING
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("firebox-fuzz-jfr-{}", std::process::id()));
            let classes = dir.join("classes");
            std::fs::create_dir_all(&classes).unwrap();
            let run = |cmd: &mut std::process::Command| {
                let status = cmd.status().unwrap_or_else(|e| {
                    panic!(
                        "{cmd:?} failed to start ({e}): install a JDK 17 (openjdk-17-jdk-headless)"
                    )
                });
                assert!(status.success(), "{cmd:?} failed");
            };
            run(std::process::Command::new("javac")
                .arg("-d")
                .arg(&classes)
                .arg(fixtures().join("jfr/Work.java")));
            let recording = dir.join("work.jfr");
            run(std::process::Command::new("java")
                .arg(format!(
                    "-XX:StartFlightRecording=filename={},settings=profile",
                    recording.display()
                ))
                .arg("-cp")
                .arg(&classes)
                .args(["Work", "3"])
                .stdout(std::process::Stdio::null()));
            let bytes = std::fs::read(&recording).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            bytes
        })
        .clone()
}

/// Reads `bytes` with detection and then as every format.
fn read_every_way(bytes: &[u8]) {
    let _ = formats::read_bytes(bytes, &ReadOptions::default());
    for format in Format::ALL {
        let options = ReadOptions { format: Some(format), ..ReadOptions::default() };
        let _ = formats::read_bytes(bytes, &options);
    }
}

/// An input made of `seed` with some bytes replaced, and cut short.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(which, flips, cut)| {
            let mut bytes = seeds[which].clone();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let keep = cut.index(bytes.len() + 1);
            if keep % 3 == 0 {
                bytes.truncate(keep);
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_every_way(&bytes);
    }

    /// Arbitrary text made of the characters the text formats give meaning.
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9 ;:()\\[\\]{}<>+._/\\-\\t\\n\"',#]{0,400}") {
        read_every_way(text.as_bytes());
    }

    /// Binary headers that pass the magic check, then arbitrary bytes.
    #[test]
    fn magic_then_garbage_never_panics(
        magic in prop::sample::select(vec![&b"PERFILE2"[..], &b"FLR\0\0\x02\0\x00"[..], &[0x1f, 0x8b, 8, 0][..]]),
        rest in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend(rest);
        read_every_way(&bytes);
    }

    /// Valid files with bytes changed and cut short.
    #[test]
    fn mutated_files_never_panic(bytes in mutated()) {
        read_every_way(&bytes);
    }
}
