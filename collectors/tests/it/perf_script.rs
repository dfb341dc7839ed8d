//! `perf script` text: the cases C05, C08, C10, C11 and C14.

use firebox_collectors::formats::perf_script::{self, Options, Weight};
use firebox_collectors::formats::{self, Format, ReadOptions};

use crate::support::{read, read_fixture};

fn collapse(text: &[u8], options: &Options) -> Vec<String> {
    perf_script::from_bytes(text, options).unwrap().folded_lines()
}

/// C08: comm with spaces, module paths with spaces and `[JIT ...]`
/// modules; the `cycles` sample is left out (first event kept) and, with
/// all events, kept.
#[test]
fn spaces_in_comm_and_module() {
    let text = "DOM Worker 21528 [003] 609678.457663:     250000 cpu-clock:\n\
        \t7f0c1a2b3c4d do_work (/usr/lib/libapp.so)\n\
        \t7f0c1a2b3000 start_thread (/usr/lib/libc.so.6)\n\
        \n\
        Plex DLNA Serve 26638/26640 [001] 856620.530720:    2654110 cycles:\n\
        \t55d0c0ffee00 serve_request (/opt/My App/bin/dlna)\n\
        \t55d0c0ffe000 main (/opt/My App/bin/dlna)\n\
        \n\
        com.example.app 21452/21452 [007] 11371.483014:     201198 cpu-clock:\n\
        \tffffff9c807ad35c __schedule ([kernel.kallsyms])\n\
        \t      7b0da4f360 syscall (/apex/lib64/libc.so)\n\
        \t        9c51fd34 java.lang.String.hashCode ([JIT app cache])\n";
    let count = Options { weight: Weight::Count, ..Options::default() };
    assert_eq!(
        collapse(text.as_bytes(), &count),
        [
            "DOM Worker;start_thread;do_work 1",
            "com.example.app;java.lang.String.hashCode_[j];syscall;__schedule_[k] 1",
        ]
    );
    let all = Options {
        weight: Weight::Count,
        all_events: true,
        include_tid: true,
        ..Options::default()
    };
    let lines = collapse(text.as_bytes(), &all);
    assert!(
        lines.contains(&"Plex DLNA Serve-26638/26640;main;serve_request 1".to_string()),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 3);
}

const TWO_SAMPLES: &str = "app 1001 [000] 100.000001:    1000000 cpu-clock:\n\
    \t401000 leaf (/usr/bin/app)\n\
    \t400800 main (/usr/bin/app)\n\
    \n\
    app 1001 [000] 100.001001:    1000000 cpu-clock:\n\
    \t401000 leaf (/usr/bin/app)\n\
    \t400800 main (/usr/bin/app)";

/// C10 (a): the last sample counts without a final newline.
#[test]
fn last_sample_without_newline_counts() {
    let count = Options { weight: Weight::Count, ..Options::default() };
    assert_eq!(collapse(TWO_SAMPLES.as_bytes(), &count), ["app;main;leaf 2"]);
    // Period weighting (the default) for cpu-clock is in nanoseconds.
    let profile = read(TWO_SAMPLES.as_bytes()).unwrap();
    assert_eq!(profile.folded_lines(), ["app;main;leaf 2000000"]);
    assert_eq!(profile.meta.unit, "nanoseconds");
}

/// C10 (b): single-line stacks, right-aligned comm, detected as perf
/// script.
#[test]
fn single_line_stacks() {
    let profile = read_fixture("perf-script/single-line-stacks.txt");
    assert_eq!(profile.folded_lines(), ["false;[unknown] 1", "false;_dl_start 1"]);
}

/// C10 (c), (d): empty input and header-only input hold no samples.
#[test]
fn empty_and_header_only_inputs_hold_nothing() {
    for text in ["", "# ========\n# captured on: today\n# ========\n"] {
        let options = ReadOptions { format: Some(Format::PerfScript), ..ReadOptions::default() };
        let profile = formats::read_bytes(text.as_bytes(), &options).unwrap();
        assert!(profile.is_empty(), "{text:?}");
    }
}

/// C10: a blank line between header and frames and an unparseable frame
/// line are survived; the samples keep their frames.
#[test]
fn blank_line_and_weird_frame_are_survived() {
    let profile = read_fixture("perf-script/empty-line.txt");
    assert_eq!(profile.folded_lines(), ["inline-counter;main 500000"]);
    let profile = read_fixture("perf-script/weird-stack-line.txt");
    assert_eq!(profile.folded_lines(), ["inline-counter 250000", "inline-counter;main 250000"]);
}

/// C11: trailing `+0x` offsets go, a `+` in the name stays.
#[test]
fn offsets_do_not_split_functions() {
    let text = "app 1001 [000] 100.000001:    1000000 cpu-clock:\n\
        \t401010 compute+0x10 (/usr/bin/app)\n\t400820 main+0x20 (/usr/bin/app)\n\n\
        app 1001 [000] 100.001001:    1000000 cpu-clock:\n\
        \t401044 compute+0x44 (/usr/bin/app)\n\t400820 main+0x20 (/usr/bin/app)\n\n\
        app 1001 [000] 100.002001:    1000000 cpu-clock:\n\
        \t401108 operator+=(Vec&, Vec const&)+0x8 (/usr/bin/app)\n\t400820 main+0x20 (/usr/bin/app)\n";
    let count = Options { weight: Weight::Count, ..Options::default() };
    assert_eq!(collapse(text.as_bytes(), &count), ["app;main;compute 2", "app;main;operator+= 1"]);
}

/// C14: count mode counts samples, period mode weighs them, and the unit
/// says which.
#[test]
fn period_and_count_modes() {
    let text = "app 1001 [000] 100.000001:          1 page-faults:\n\
        \t401000 memset (/usr/lib/libc.so.6)\n\t400800 main (/usr/bin/app)\n\n\
        app 1001 [000] 100.000101:          4 page-faults:\n\
        \t402000 load_config (/usr/bin/app)\n\t400800 main (/usr/bin/app)\n";
    let count = perf_script::from_bytes(
        text.as_bytes(),
        &Options { weight: Weight::Count, ..Options::default() },
    )
    .unwrap();
    assert_eq!(count.folded_lines(), ["app;main;load_config 1", "app;main;memset 1"]);
    assert_eq!(count.meta.unit, "samples");
    let period = perf_script::from_bytes(text.as_bytes(), &Options::default()).unwrap();
    assert_eq!(period.folded_lines(), ["app;main;load_config 4", "app;main;memset 1"]);
    assert_eq!(period.meta.unit, "page-faults");
    // The public page-fault recording: periods from 1 to 72 add up.
    let faults = read_fixture("perf-script/perf-java-faults-01.txt");
    assert_eq!(faults.meta.sample_type, "page-faults");
    assert!(faults.folded_lines().contains(&"sleep;handle_intel 72".to_string()));
}

/// C05: bytes that are not UTF-8 in symbols are replaced, both samples
/// kept.
#[test]
fn invalid_utf8_symbols_are_replaced() {
    let text: &[u8] = b"app 1001 [000] 100.000001:    1000000 cpu-clock:\n\
        \t401000 caf\xe9_lookup (/usr/bin/app)\n\t400800 main (/usr/bin/app)\n\n\
        app 1001 [000] 100.001001:    1000000 cpu-clock:\n\
        \t401100 price_\xe2\x82 (/usr/bin/app)\n\t400800 main (/usr/bin/app)\n";
    let count = Options { weight: Weight::Count, ..Options::default() };
    assert_eq!(
        collapse(text, &count),
        ["app;main;caf\u{FFFD}_lookup 1", "app;main;price_\u{FFFD} 1"]
    );
}

/// C01/C02 through perf script: demangled names keep one frame, argument
/// lists are cut only at depth 0, Go methods and anonymous namespaces stay.
#[test]
fn cpp_and_rust_names_stay_whole() {
    let text = "app 1001 [000] 100.000001:    1000000 cpu-clock:\n\
        \t401000 std::vector<int, std::allocator<int> >::push_back(int const&) (/usr/bin/app)\n\
        \t401100 void exec<void (*)()>(void (*)()) (/usr/bin/app)\n\
        \t401200 std::function<int (int, int)>::operator()(int, int) const (/usr/bin/app)\n\
        \t401300 (anonymous namespace)::helper(int) (/usr/bin/app)\n\
        \t401400 main::{lambda(int, int)#2}::operator()(int, int) const (/usr/bin/app)\n\
        \t401480 net/http.(*Client).Do (/usr/bin/app)\n\
        \t401500 main (/usr/bin/app)\n\n\
        app 1001 [000] 100.000002:    1000000 cpu-clock:\n\
        \t401000 core::array::<impl core::default::Default for [T; 4]>::default::h0123456789abcdef (/usr/bin/app)\n\
        \t400800 main (/usr/bin/app)\n";
    let count = Options { weight: Weight::Count, ..Options::default() };
    assert_eq!(
        collapse(text.as_bytes(), &count),
        [
            "app;main;core::array::<impl core::default::Default for [T: 4]>::default 1",
            "app;main;net/http.(*Client).Do;main::{lambda(int, int)#2}::operator;(anonymous namespace)::helper;\
             std::function<int (int, int)>::operator;void exec<void (*)()>;std::vector<int, std::allocator<int> >::push_back 1",
        ]
    );
}
