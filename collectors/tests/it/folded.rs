//! Folded stacks: the tolerance cases C06 and C07 and format detection.

use crate::support::{read, read_fixture};

const SIMPLE: [&str; 3] = ["a;b 5", "a;b;c 5", "a;b;d 4"];

/// C06 (1)-(3), (5): CRLF, UTF-16LE with BOM and comment/junk lines, as
/// other tools wrote them, all give the same profile.
#[test]
fn tolerant_encodings_of_one_profile_agree() {
    for file in ["simple-crlf.txt", "simple-utf16-le.txt", "simple-with-invalids.txt"] {
        let profile = read_fixture(&format!("folded/{file}"));
        assert_eq!(profile.folded_lines(), SIMPLE, "{file}");
        assert_eq!(profile.total(), 14, "{file}");
    }
}

/// C06 (3)-(5): a UTF-8 BOM never reaches the first frame, trailing blanks
/// and blank lines are ignored, a comment and a junk line are skipped.
#[test]
fn bom_blanks_and_junk_are_ignored() {
    let body = "a;b;c 1\na;b;c 1\na;b;d 4\na;b;c 3\na;b 5\n";
    let bom = format!("\u{feff}{body}");
    let blanks = body.replace('\n', " \t\n") + "\n\n";
    let junk = format!("# captured by tool X\n{body}not a stack line\n");
    let crlf = body.replace('\n', "\r\n").trim_end().to_string();
    for input in [bom, blanks, junk, crlf] {
        let profile = read(input.as_bytes()).unwrap();
        assert_eq!(profile.folded_lines(), SIMPLE, "{input:?}");
        assert!(profile.frames().iter().all(|f| !f.name.contains(['\u{feff}', '\r'])));
    }
}

/// C06: fractions are truncated, the rule documented in `folded`.
#[test]
fn fractional_counts_truncate() {
    let profile = read_fixture("folded/with-space.txt");
    let lines = profile.folded_lines();
    assert!(
        lines.contains(&"cksum;_start;__libc_start_main;main;cksum 31".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"noploop;main 274".to_string()), "{lines:?}");
    assert!(lines.contains(&"noploop;[unknown] 2".to_string()), "{lines:?}");
    // C01: the `[T; _]` in the Rust name does not split the frame.
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("cksum;main;core::array::<impl core::default::Default for [T: _]>")),
        "{lines:?}"
    );
    assert_eq!(profile.total(), 31 + 6 + 1 + 19 + 2 + 274);
}

/// C06: a negative count is refused with its line number.
#[test]
fn negative_count_is_refused_with_its_line() {
    let err = read(b"a;b 2.5\na;c -3\n").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("negative"), "{err}");
}

/// C07: a last frame ending in a number is not a second count when other
/// lines have one count.
#[test]
fn frame_ending_in_number_stays_a_frame() {
    let input = "thread 140245 12\nthread 140245;main (app.py:10) 7\n\
                 thread 140245;main (app.py:10);work (app.py:20) 5\n";
    let profile = read(input.as_bytes()).unwrap();
    assert_eq!(profile.total(), 24);
    // Written back, the frame cannot be taken for a count.
    assert!(profile.folded_lines().contains(&"thread_140245 12".to_string()));
    let again = read(profile.folded_lines().join("\n").as_bytes()).unwrap();
    assert_eq!(again.folded_lines(), profile.folded_lines());
    assert_eq!(profile.frames()[0].name, "thread 140245");
}

/// C01 ingest: the ambiguous third-party line is one frame, trimmed, three
/// samples.
#[test]
fn semicolon_in_array_type_is_one_frame() {
    let profile = read(b"app;main;core::array::<impl Default for [T; 4]>::default 3\n").unwrap();
    assert_eq!(
        profile.folded_lines(),
        ["app;main;core::array::<impl Default for [T: 4]>::default 3"]
    );
    assert!(profile.frames().iter().all(|f| !f.name.starts_with(' ')));
}

/// Deep stacks (C22b): 5000 frames read without recursion trouble.
#[test]
fn five_thousand_frames_deep() {
    let deep: Vec<String> = (1..5000).map(|i| format!("r{i}")).collect();
    let input = format!("main;{} 1\nmain;other 1\n", deep.join(";"));
    let profile = read(input.as_bytes()).unwrap();
    let longest = profile.stacks().map(|(s, _)| s.len()).max();
    assert_eq!(longest, Some(5000));
}
