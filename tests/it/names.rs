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

/// Two libraries loaded in turn at one address (each unloaded before the
/// other is loaded): every sample is named from the library it was taken
/// in, never from the other, which the same `/proc/PID/map_files` entry
/// names a moment later. Recorded twice, as the swap is a matter of timing.
#[test]
fn a_library_reloaded_at_the_same_address_keeps_its_own_names() {
    let _turn = crate::support::cpu_turn();
    let dir = Scratch::new("names-reload");
    let (lib_a, lib_b, bin) = (dir.path("liba.so"), dir.path("libb.so"), dir.path("reload"));
    let lib = fixtures().join("workloads/reloadlib.c");
    compile(std::slice::from_ref(&lib), &lib_a, &["-O1", "-shared", "-fPIC", "-DLIB_A"]);
    compile(&[lib], &lib_b, &["-O1", "-shared", "-fPIC", "-DLIB_B"]);
    compile(&[fixtures().join("workloads/reload.c")], &bin, &["-O2", "-ldl"]);
    for round in 0..2 {
        let out = dir.path(&format!("reload-{round}.folded"));
        let output = firebox()
            .args(["record", "-o"])
            .arg(&out)
            .arg("--")
            .arg(&bin)
            .arg("2500")
            .args([&lib_a, &lib_b])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let stacks = read_folded(&out);
        let (mut a, mut b) = (0, 0);
        for (stack, &n) in &stacks {
            let frames: Vec<&str> = stack.split(';').collect();
            let has = |f: &str| frames.contains(&f);
            if has("a_leaf") {
                assert!(stack.contains(";call;a_entry;a_leaf"), "{stack}");
                a += n;
            } else if has("b_leaf") {
                assert!(stack.contains(";call;b_entry;b_mid;b_leaf"), "{stack}");
                b += n;
            }
            let mixed = frames.iter().any(|f| f.starts_with("a_"))
                && frames.iter().any(|f| f.starts_with("b_"));
            assert!(!mixed && !has("_fini"), "names from the wrong library: {stack}");
        }
        assert!(a + b > 100, "too few samples in the libraries: {stacks:#?}");
        // b_entry does twice a_entry's work.
        let b_share = 100.0 * b as f64 / (a + b) as f64;
        assert!((55.0..=78.0).contains(&b_share), "b_leaf has {b_share:.1}%: {stacks:#?}");
    }
}
