//! Frame names that other tools break on stay one frame, readable, in a
//! real recording: C++ anonymous namespaces, templates and lambdas, and a
//! Rust name holding `[T; 4]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::record::read_folded;
use crate::support::{compile, describe, firebox, fixtures, Scratch};

fn record(dir: &Scratch, binary: &Path) -> BTreeMap<String, u64> {
    let out = dir.path("names.folded");
    let output =
        firebox().args(["record", "-o"]).arg(&out).arg("--").arg(binary).arg("2").output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    read_folded(&out)
}

fn frames(stacks: &BTreeMap<String, u64>) -> Vec<&str> {
    let mut frames: Vec<&str> = stacks.keys().flat_map(|s| s.split(';')).collect();
    frames.sort_unstable();
    frames.dedup();
    frames
}

/// C++ names keep their brackets and parentheses inside templates, their
/// anonymous namespace and their lambda, and lose only the argument list.
#[test]
fn cpp_names_stay_whole() {
    let dir = Scratch::new("names-cpp");
    let bin = dir.path("names");
    compile(&[fixtures().join("workloads/names.cpp")], &bin, &["-O2", "-g"]);
    let stacks = record(&dir, &bin);
    let frames = frames(&stacks);

    assert!(frames.contains(&"(anonymous namespace)::helper"), "{frames:#?}");
    assert!(
        frames.contains(&"unsigned int exec<unsigned int (*)(unsigned int)>"),
        "the template argument with parentheses is kept: {frames:#?}"
    );
    assert!(frames.iter().any(|f| f.contains("main::{lambda(unsigned int)#1}")), "{frames:#?}");
    assert!(frames.iter().all(|f| !f.starts_with(' ') && !f.contains("(unsigned int, ")));
}

/// A Rust method on `[T; 4]` is one frame, demangled, its hash dropped and
/// its `;` written as `:`.
#[test]
fn rust_array_impl_is_one_frame() {
    let dir = Scratch::new("names-rust");
    let bin = dir.path("names-rs");
    let status = Command::new("rustc")
        .args(["-O", "-g", "-o"])
        .arg(&bin)
        .arg(fixtures().join("workloads/names.rs"))
        .status()
        .expect("rustc is needed to build the Rust workload");
    assert!(status.success(), "rustc failed on names.rs");
    let stacks = record(&dir, &bin);
    let frames = frames(&stacks);

    assert!(frames.contains(&"<[T: 4] as names::Tally>::tally"), "{frames:#?}");
    let hashed = |f: &str| {
        f.rsplit_once("::h")
            .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    assert!(frames.iter().all(|f| !f.starts_with(' ') && !hashed(f)), "{frames:#?}");
}
