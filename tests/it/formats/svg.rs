//! Flame graph SVGs: golden files, kind colours (C13) and escaping (C03).
//!
//! Goldens live in `fixtures/svg/`; `BLESS=1 cargo test` rewrites them. A
//! missing golden fails.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use crate::support::{describe, fixtures, run_firebox, Scratch};

/// Renders `input` (folded text) with `args` and returns the SVG.
fn render(scratch: &Scratch, name: &str, input: &str, args: &[&str]) -> String {
    let path = scratch.path(name);
    std::fs::write(&path, input).unwrap();
    let mut all =
        vec!["flamegraph".to_string(), path.display().to_string(), "-o".into(), "-".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    let output = run_firebox(all);
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8(output.stdout).expect("the SVG is UTF-8")
}

/// Compares `svg` with the golden `name`, or rewrites it under `BLESS=1`.
fn golden(name: &str, svg: &str) {
    let path = fixtures().join("svg").join(name);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, svg).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("golden {} is missing; run the test with BLESS=1 to write it", path.display())
    });
    assert!(
        expected == svg,
        "{} differs from the new SVG; rerun with BLESS=1 if the change is meant",
        path.display()
    );
}

/// Box title (without counts) to fill colour, from an inferno SVG.
fn fills(svg: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for part in svg.split("<g><title>").skip(1) {
        let (title, rest) = part.split_once("</title>").unwrap();
        let name = title.rsplit_once(" (").map_or(title, |(n, _)| n).to_string();
        let fill = rest.split("fill=\"").nth(1).and_then(|f| f.split('"').next()).unwrap_or("");
        out.entry(name).or_default().push(fill.to_string());
    }
    out
}

fn rgb(fill: &str) -> (u8, u8, u8) {
    let inner = fill.trim_start_matches("rgb(").trim_end_matches(')');
    let v: Vec<u8> = inner.split(',').map(|c| c.trim().parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

const C13: &str = "Worker.run_[j];Codec.encode_[j];Arrays.copyOf_[i] 3\n\
    Worker.run_[j];Codec.encode_[1];Arrays.copyOf_[0] 2\n\
    Worker.run_[j];Codec.encode_[j];__memmove_avx_unaligned;copy_user_generic_[k] 1\n";

/// C13: suffixes are not shown and do not split nodes; Codec.encode is one
/// box of 6 coloured as JIT code (4 of 6), copy_user_generic kernel-orange.
#[test]
fn java_suffixes_merge_and_colour() {
    let scratch = Scratch::new("svg-c13");
    let svg = render(&scratch, "c13.collapsed", C13, &["--title", "C13"]);
    golden("c13-async-profiler.svg", &svg);
    assert!(!svg.contains("_[j]") && !svg.contains("_[1]") && !svg.contains("_[0]"));
    assert!(svg.contains("<title>Codec.encode (6 samples, 100.00%)</title>"));
    assert!(svg.contains("<title>Arrays.copyOf (5 samples, 83.33%)</title>"));
    let fills = fills(&svg);
    assert_eq!(fills["Codec.encode"].len(), 1);
    let (r, g, b) = rgb(&fills["Codec.encode"][0]);
    assert!(g > 170 && r < 110 && b < 110, "Codec.encode is not JIT green: {r},{g},{b}");
    let (r, g, b) = rgb(&fills["copy_user_generic"][0]);
    assert!(
        r > 215 && (120..180).contains(&g) && b < 70,
        "copy_user_generic is not kernel orange: {r},{g},{b}"
    );
}

/// C13 on the public async-profiler samples: every frame is JIT or inlined
/// Java, so no box is drawn in the native colours.
#[test]
fn public_async_profiler_sample_renders() {
    let scratch = Scratch::new("svg-sample1");
    let input =
        std::fs::read_to_string(fixtures().join("async-profiler/sample1.collapsed")).unwrap();
    let svg = render(&scratch, "sample1.collapsed", &input, &["--title", "sample1"]);
    golden("sample1.svg", &svg);
    let fills = fills(&svg);
    let (r, g, _) = rgb(&fills["BusyClient.run"][0]);
    assert!(g > r, "BusyClient.run is not drawn as Java");
}

/// C03: markup in names and titles is escaped: the SVG parses as strict
/// XML, holds exactly one script element and shows the original text.
#[test]
fn names_and_titles_are_escaped() {
    let scratch = Scratch::new("svg-c03");
    let input = "node;LazyCompile:~body evalmachine.<anonymous>:1;RegExp:[&<>\"'] 3\n\
        app;main;</title><script>alert(1)</script> 1\n\
        app;main;x\" onmouseover=\"alert(2) 1\n";
    let svg =
        render(&scratch, "c03.folded", input, &["--title", "a & b <c>", "--subtitle", "x\"y"]);
    golden("c03-escaping.svg", &svg);

    let mut reader = quick_xml::Reader::from_str(&svg);
    let mut scripts = 0;
    let mut handlers = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().0 == "script" => scripts += 1,
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                for attr in e.attributes() {
                    let attr = attr.expect("well-formed attributes");
                    if attr.key.0.starts_with("on") {
                        handlers.push(attr.value.to_string());
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("the SVG is not well-formed XML at {}: {e}", reader.buffer_position()),
        }
    }
    assert_eq!(scripts, 1);
    // The only event handler is the graph's own `onload`.
    assert_eq!(handlers, ["init(evt)"]);
    assert!(svg.contains("a &amp; b &lt;c&gt;"), "the title is not escaped");
    assert!(svg.contains("RegExp:[&amp;&lt;&gt;"), "names are not escaped");
}
