//! `firebox diff` end to end: the two-column union against inferno's own,
//! new and gone stacks in the SVG and the summaries, byte-stable markdown,
//! real recordings of a workload with a knob (a real change is flagged,
//! the same workload twice is not), and inputs made by other tools.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use quick_xml::events::Event;

use crate::support::{describe, fixtures, run_firebox, Scratch};

pub mod recorded;
pub mod script;

/// The `fixtures/diff` directory.
pub fn diff_fixtures() -> PathBuf {
    fixtures().join("diff")
}

/// Runs `firebox diff` with `args` and asserts it exits with `code`.
pub fn diff_ok(args: &[&dyn AsRef<std::ffi::OsStr>], code: i32) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["diff".as_ref()];
    all.extend(args.iter().map(|a| a.as_ref()));
    let output = run_firebox(all);
    assert_eq!(output.status.code(), Some(code), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{}", describe(&output));
    output
}

/// Sorted lines of a file.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// What inferno's own `differential` module makes of the same two files,
/// sorted (inferno writes them in hash order).
fn inferno_union(before: &Path, after: &Path, strip_hex: bool) -> Vec<String> {
    let options = inferno::differential::Options { normalize: false, strip_hex };
    let mut out = Vec::new();
    inferno::differential::from_files(options, before, after, &mut out).unwrap();
    sorted_lines(&String::from_utf8(out).unwrap())
}

/// The two-column union `firebox diff -o X.folded` writes.
fn firebox_union(before: &Path, after: &Path, extra: &[&str]) -> Vec<String> {
    // Tests run in parallel: one scratch directory per input pair and flags.
    let tag: String = format!("{}-{}-{}", before.display(), after.display(), extra.join("-"))
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = Scratch::new(&format!("diff-union-{}", &tag[tag.len().saturating_sub(80)..]));
    let out = dir.path("union.folded");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&before, &after, &"-o", &out];
    for e in extra {
        args.push(e);
    }
    diff_ok(&args, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        sorted_by_frames(&text),
        "the union is sorted frame by frame"
    );
    sorted_lines(&text)
}

fn sorted_by_frames(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by(|a, b| {
        let stack = |l: &'_ str| -> Vec<String> {
            let mut parts = l.rsplitn(3, ' ');
            let _ = (parts.next(), parts.next());
            parts.next().unwrap().split(';').map(str::to_string).collect()
        };
        stack(a).cmp(&stack(b))
    });
    lines
}

/// One frame of a flame graph SVG.
#[derive(Debug)]
pub struct SvgFrame {
    /// Its tooltip.
    pub title: String,
    /// Its fill colour.
    pub fill: (u8, u8, u8),
}

/// The frames and the subtitle of a flame graph SVG, read with a strict XML
/// parser.
pub fn svg_frames(svg: &str) -> (Vec<SvgFrame>, String) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let version = quick_xml::XmlVersion::Implicit1_0;
    let mut frames = Vec::new();
    let mut subtitle = String::new();
    let mut text: Option<String> = None;
    let mut in_subtitle = false;
    let mut title: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position()));
        match event {
            Event::Eof => break,
            Event::Start(e) if e.name().0 == "title" => text = Some(String::new()),
            Event::Start(e) if e.name().0 == "text" => {
                in_subtitle = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.0 == "id" && a.normalized_value(version).unwrap() == "subtitle");
                if in_subtitle {
                    text = Some(String::new());
                }
            }
            Event::Text(t) => {
                if let Some(buf) = text.as_mut() {
                    buf.push_str(&t.xml_content(version));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(buf) = text.as_mut() {
                    let name = r.xml_content(version);
                    buf.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => r
                            .resolve_char_ref()
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| panic!("unknown entity {other}")),
                    });
                }
            }
            Event::End(e) if e.name().0 == "title" => title = text.take(),
            Event::End(e) if e.name().0 == "text" && in_subtitle => {
                subtitle = text.take().unwrap_or_default();
                in_subtitle = false;
            }
            Event::Empty(e) if e.name().0 == "rect" => {
                let Some(title) = title.take() else { continue };
                let fill = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.0 == "fill")
                    .map(|a| a.normalized_value(version).unwrap().into_owned())
                    .unwrap_or_default();
                frames.push(SvgFrame { title, fill: parse_rgb(&fill) });
            }
            _ => {}
        }
    }
    (frames, subtitle)
}

fn parse_rgb(fill: &str) -> (u8, u8, u8) {
    let inner = fill.strip_prefix("rgb(").and_then(|f| f.strip_suffix(')')).unwrap_or_else(|| {
        panic!("fill {fill:?} is not rgb(...)");
    });
    let v: Vec<u8> = inner.split(',').map(|c| c.trim().parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

fn frame<'a>(frames: &'a [SvgFrame], name: &str) -> Option<&'a SvgFrame> {
    frames.iter().find(|f| f.title.starts_with(&format!("{name} (")))
}

fn is_red((r, g, b): (u8, u8, u8)) -> bool {
    r == 255 && g == b && g < 250
}

fn is_blue((r, g, b): (u8, u8, u8)) -> bool {
    b == 255 && r == g && r < 250
}

fn is_green((r, g, b): (u8, u8, u8)) -> bool {
    g > r.saturating_add(60) && g > b.saturating_add(60)
}

fn is_yellow((r, g, b): (u8, u8, u8)) -> bool {
    r > b.saturating_add(80) && g > b.saturating_add(80)
}

fn c16() -> (PathBuf, PathBuf) {
    (diff_fixtures().join("c16/before.folded"), diff_fixtures().join("c16/after.folded"))
}

/// CASES C16: the union is exactly the four lines the case lists, and the
/// same lines inferno's differential module makes.
#[test]
fn c16_union_is_exact() {
    let (before, after) = c16();
    let ours = firebox_union(&before, &after, &[]);
    assert_eq!(
        ours,
        [
            "app;main;fast_path 0 35",
            "app;main;io 20 25",
            "app;main;legacy_path 30 0",
            "app;main;parse 50 40"
        ]
    );
    assert_eq!(ours, inferno_union(&before, &after, false));
}

/// CASES C16 in the SVG: in the head's shape `fast_path` is a green frame
/// marked new (not a red increase), `io` red, `parse` blue, and the
/// vanished `legacy_path` is named in the subtitle; in the base's shape
/// `legacy_path` is a yellow frame marked gone and `fast_path` is named.
#[test]
fn c16_svg_marks_new_and_gone() {
    let (before, after) = c16();
    let dir = Scratch::new("diff-c16-svg");
    let head_svg = dir.path("head.svg");
    let base_svg = dir.path("base.svg");
    diff_ok(&[&before, &after, &"-o", &head_svg], 0);
    diff_ok(&[&before, &after, &"-o", &base_svg, &"--base-shape"], 0);

    let (frames, subtitle) = svg_frames(&std::fs::read_to_string(&head_svg).unwrap());
    let fast = frame(&frames, "fast_path (new)").expect("fast_path is drawn, marked new");
    assert!(is_green(fast.fill), "new is green, not red: {fast:?}");
    assert!(fast.title.contains("35 samples"), "{fast:?}");
    let io = frame(&frames, "io").unwrap();
    assert!(is_red(io.fill) && io.title.contains("+5.00%"), "io grew: {io:?}");
    let parse = frame(&frames, "parse").unwrap();
    assert!(is_blue(parse.fill) && parse.title.contains("-10.00%"), "parse shrank: {parse:?}");
    assert!(!frames.iter().any(|f| f.title.contains("legacy_path")), "gone has no width");
    assert!(subtitle.contains("gone from head: legacy_path (30.0%)"), "{subtitle}");
    assert!(subtitle.contains("green: new"), "{subtitle}");

    let (frames, subtitle) = svg_frames(&std::fs::read_to_string(&base_svg).unwrap());
    let legacy = frame(&frames, "legacy_path (gone)").expect("legacy_path is drawn, marked gone");
    assert!(is_yellow(legacy.fill), "gone is yellow: {legacy:?}");
    assert!(legacy.title.contains("30 samples"), "{legacy:?}");
    let io = frame(&frames, "io").unwrap();
    assert!(is_red(io.fill) && io.title.contains("+5.00%"), "red still means grew: {io:?}");
    let parse = frame(&frames, "parse").unwrap();
    assert!(is_blue(parse.fill) && parse.title.contains("50 samples"), "{parse:?}");
    assert!(!frames.iter().any(|f| f.title.contains("fast_path")));
    assert!(subtitle.contains("new in head: fast_path (35.0%)"), "{subtitle}");
}

/// CASES C16 in the summaries: `fast_path` new and `legacy_path` gone, both
/// beyond noise at 100 samples a side; `parse` (−10 points) and `io` (+5)
/// within it.
#[test]
fn c16_summary_names_new_and_gone() {
    let (before, after) = c16();
    let dir = Scratch::new("diff-c16-summary");
    let md = dir.path("diff.md");
    let json = dir.path("diff.json");
    let output = diff_ok(&[&before, &after, &"--summary", &md, &"--summary", &json], 0);

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let function = |name: &str| -> &serde_json::Value {
        doc["functions"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()
    };
    assert_eq!(function("fast_path")["presence"], "new");
    assert_eq!(function("fast_path")["total"]["significant"], true);
    assert_eq!(function("fast_path")["total"]["change_points"], 35.0);
    assert_eq!(function("legacy_path")["presence"], "gone");
    assert_eq!(function("legacy_path")["self"]["change_points"], -30.0);
    assert_eq!(function("parse")["total"]["significant"], false);
    assert_eq!(function("io")["total"]["significant"], false);
    assert_eq!(doc["significant"], serde_json::json!(["fast_path", "legacy_path"]));
    assert!(doc["test"]["method"].as_str().unwrap().contains("Holm"));

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("New in head: `fast_path` (35.0%)"), "{md}");
    assert!(md.contains("Gone from head (in base only): `legacy_path` (30.0%)"), "{md}");
    assert!(md.contains("| `legacy_path` *gone* | 30.0% | 0.0% | -30.0 pts | **yes** ▼ fall"));

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("Profile diff: 2 functions changed beyond sampling noise"));
    assert!(stdout.lines().any(|l| l.contains("fast_path") && l.ends_with("beyond noise  new")));
}

/// Compares `actual` with the golden file `name`, rewriting it under
/// BLESS=1; a missing golden fails.
fn assert_golden(name: &str, actual: &str) {
    let path = diff_fixtures().join("golden").join(name);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no golden file {} ({e}); run with BLESS=1 to write it", path.display())
    });
    assert_eq!(actual, expected, "{} differs; BLESS=1 rewrites it", path.display());
}

/// The markdown summary is byte-stable: the same inputs give the same
/// bytes twice, and those bytes are the golden file's (C16 and inferno's
/// pair, with a link and a folded-away remainder).
#[test]
fn markdown_summary_matches_golden() {
    let dir = Scratch::new("diff-golden");
    let inferno = diff_fixtures().join("inferno");
    let cases = [
        ("c16.md", c16().0, c16().1, "2"),
        ("inferno.md", inferno.join("before.txt"), inferno.join("after.txt"), "5"),
    ];
    for (name, before, after, top) in cases {
        let mut runs = Vec::new();
        for run in 0..2 {
            let md = dir.path(&format!("{run}-{name}"));
            diff_ok(
                &[
                    &before,
                    &after,
                    &"--summary",
                    &md,
                    &"--top",
                    &top,
                    &"--svg-url",
                    &"https://ci.invalid/artifacts/diff.svg",
                ],
                0,
            );
            runs.push(std::fs::read_to_string(&md).unwrap());
        }
        assert_eq!(runs[0], runs[1], "{name}: two runs differ");
        assert!(runs[0].starts_with("<!-- firebox-diff -->\n**Profile diff: "));
        assert!(runs[0].contains("<details>"), "{name}: the rest is folded away");
        assert_golden(name, &runs[0]);
    }
}

/// inferno's public before/after pair: the same union as inferno's
/// differential module, with hex addresses apart by default and merged
/// into `0x...` with --strip-hex.
#[test]
fn inferno_pair_matches_inferno_differential() {
    let dir = diff_fixtures().join("inferno");
    let (before, after) = (dir.join("before.txt"), dir.join("after.txt"));
    let plain = firebox_union(&before, &after, &[]);
    assert_eq!(plain, inferno_union(&before, &after, false));
    assert!(plain.contains(&"dd;[unknown];0x234f2abc;system_call_[k];0xF1BDE348 1 0".to_string()));
    assert!(plain.contains(
        &"dd;write;system_call_[k];sys_write_[k];__fdget_pos_[k];__fdget_[k];__fget_light_[k] 0 12"
            .to_string()
    ));
    let stripped = firebox_union(&before, &after, &["--strip-hex"]);
    assert_eq!(stripped, inferno_union(&before, &after, true));
    assert!(stripped.contains(&"dd;[unknown];0x...;system_call_[k];0x... 1 0".to_string()));
}

/// async-profiler's pair: the lines upstream's own test expects, and the
/// same union as inferno's, frame-type suffixes kept.
#[test]
fn async_profiler_pair_lines_up() {
    let dir = fixtures().join("async-profiler");
    let (before, after) = (dir.join("sample1.collapsed"), dir.join("sample2.collapsed"));
    let ours = firebox_union(&before, &after, &[]);
    for expected in [
        "BusyClient.run_[j] 4 1",
        "BusyClient.run_[j];InputStream.read_[j];Socket$SocketInputStream.read_[j] 2 2",
    ] {
        assert!(ours.contains(&expected.to_string()), "no {expected:?} in {ours:#?}");
    }
    assert_eq!(ours, inferno_union(&before, &after, false));
}

/// Every kind of bad input is one line on stderr with exit code 2.
#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = Scratch::new("diff-errors");
    let (before, after) = c16();
    let empty = dir.path("empty.folded");
    std::fs::write(&empty, "").unwrap();
    let junk = dir.path("junk.folded");
    std::fs::write(&junk, "# only a comment\n").unwrap();
    let missing = dir.path("missing.folded");
    let cases: Vec<(Vec<&dyn AsRef<std::ffi::OsStr>>, &str)> = vec![
        (vec![&missing, &after], "missing.folded"),
        (vec![&before, &empty], "empty.folded"),
        (vec![&junk, &after], "junk.folded"),
        (vec![&before], "give the base and the head"),
        (vec![], "nothing to compare"),
        (vec![&before, &after, &"--summary", &"x.html"], "x.html"),
        (vec![&before, &after, &"-o", &"x.png"], "x.png"),
        (vec![&before, &after, &"-o", &"/no/such/dir/x.svg"], "/no/such/dir"),
        (vec![&before, &after, &"--alpha", &"2"], "--alpha"),
        (vec![&before, &after, &"--fail-on-regression=-1"], "--fail-on-regression"),
    ];
    for (args, needle) in cases {
        let output = diff_ok(&args, 2);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> =
            stderr.lines().filter(|l| l.starts_with("firebox: error:")).collect();
        assert_eq!(errors.len(), 1, "one error line: {stderr}");
        assert!(errors[0].contains(needle), "the error lacks {needle:?}: {stderr}");
    }
}

/// Several files a side are merged: the C16 base given twice weighs double.
#[test]
fn several_files_a_side_are_merged() {
    let (before, after) = c16();
    let dir = Scratch::new("diff-merge");
    let out = dir.path("union.folded");
    diff_ok(&[&"--base", &before, &before, &"--head", &after, &"-o", &out], 0);
    let lines = sorted_lines(&std::fs::read_to_string(&out).unwrap());
    assert!(lines.contains(&"app;main;legacy_path 60 0".to_string()), "{lines:#?}");
    assert!(lines.contains(&"app;main;parse 100 40".to_string()), "{lines:#?}");
}

/// Names of the significant functions in a JSON summary.
pub fn significant_names(json: &Path) -> BTreeSet<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    doc["significant"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// The change in points of one function's total share in a JSON summary.
pub fn total_change(json: &Path, name: &str) -> f64 {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no function {name} in {}", json.display()))["total"]
        ["change_points"]
        .as_f64()
        .unwrap()
}

/// Normalizing scales the base to the head's total before colouring: with
/// the C16 base given twice (200 samples) against the head (100), `parse`
/// shrank by 10 points normalized and by 60 samples raw. `-o -` writes the
/// SVG to stdout and moves the table to stderr.
#[test]
fn normalize_scales_the_other_side() {
    let (before, after) = c16();
    let dir = Scratch::new("diff-normalize");
    let normalized = dir.path("normalized.svg");
    let raw = dir.path("raw.svg");
    diff_ok(&[&"--base", &before, &before, &"--head", &after, &"-o", &normalized], 0);
    diff_ok(&[&"--base", &before, &before, &"--head", &after, &"-o", &raw, &"--no-normalize"], 0);

    let (frames, subtitle) = svg_frames(&std::fs::read_to_string(&normalized).unwrap());
    let parse = frame(&frames, "parse").unwrap();
    assert!(parse.title.contains("40 samples, 40.00%; -10.00%"), "{parse:?}");
    assert!(subtitle.contains("base scaled to 100 samples"), "{subtitle}");
    let (frames, subtitle) = svg_frames(&std::fs::read_to_string(&raw).unwrap());
    let parse = frame(&frames, "parse").unwrap();
    assert!(parse.title.contains("40 samples, 40.00%; -60.00%"), "{parse:?}");
    let io = frame(&frames, "io").unwrap();
    assert!(is_blue(io.fill), "raw: io went from 40 to 25 samples: {io:?}");
    assert!(!subtitle.contains("scaled"), "{subtitle}");

    let output = diff_ok(&[&before, &after, &"-o", &"-"], 0);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("<?xml"), "the SVG goes to stdout");
    svg_frames(&stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("Profile diff: "), "the table goes to stderr: {stderr}");
}
