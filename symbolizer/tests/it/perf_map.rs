//! JIT perf maps found through the process's root.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command};

use firebox_model::FrameKind;
use firebox_symbolizer::{Mapping, ProcessView, Source, Symbolized, Symbolizer};

use crate::support::Scratch;

/// A process that only waits, killed when dropped.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn jit_names(found: &Option<Symbolized>) -> Option<(&str, FrameKind, Source)> {
    let found = found.as_ref()?;
    Some((found.frames[0].name.as_str(), found.frames[0].kind, found.source))
}

/// Perf map entries name addresses in anonymous memory and in no mapping;
/// lines the JIT appends later are picked up.
#[test]
fn jit_frames_from_the_perf_map_in_the_root() {
    let scratch = Scratch::new("perf-map");
    let sleeper = Sleeper(Command::new("sleep").arg("60").spawn().expect("`sleep` is needed"));
    let pid = sleeper.0.id();
    let root = scratch.path("root");
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let process = ProcessView { pid, root: root.clone() };
    let map_path = root.join(format!("tmp/perf-{pid}.map"));
    std::fs::write(
        &map_path,
        "7f0000001000 40 LazyCompile:~body app.js:1\n0x7f0000002000 0x20 Interpreter\n",
    )
    .unwrap();

    let mut symbolizer = Symbolizer::new();
    let found = symbolizer.jit(&process, 0x7f0000001010);
    assert_eq!(
        jit_names(&found),
        Some(("LazyCompile:~body app.js:1", FrameKind::Jit, Source::PerfMap))
    );
    assert_eq!(
        jit_names(&symbolizer.jit(&process, 0x7f000000201f)).map(|n| n.0),
        Some("Interpreter")
    );
    assert_eq!(symbolizer.jit(&process, 0x7f0000003000), None);

    // The JIT compiles more and appends.
    let mut file = std::fs::OpenOptions::new().append(true).open(&map_path).unwrap();
    writeln!(file, "7f0000003000 100 Function:hot app.js:7").unwrap();
    drop(file);
    assert_eq!(
        jit_names(&symbolizer.jit(&process, 0x7f0000003080)).map(|n| n.0),
        Some("Function:hot app.js:7")
    );

    // The same through user() for an anonymous executable mapping.
    let anon = Mapping {
        start: 0x7f0000000000,
        end: 0x7f0000010000,
        file_offset: 0,
        path: PathBuf::from("//anon"),
        build_id: None,
    };
    let found = symbolizer.user(&process, &anon, 0x7f0000003001);
    assert_eq!(found.frames[0].name, "Function:hot app.js:7");
    assert_eq!(symbolizer.stats().by_module()["[jit]"][&Source::PerfMap], 4);
}

/// A process without a perf map has no JIT frames.
#[test]
fn no_perf_map_no_jit_frames() {
    let scratch = Scratch::new("no-perf-map");
    let sleeper = Sleeper(Command::new("sleep").arg("60").spawn().expect("`sleep` is needed"));
    let process = ProcessView { pid: sleeper.0.id(), root: scratch.path("root") };
    let mut symbolizer = Symbolizer::new();
    assert_eq!(symbolizer.jit(&process, 0x7f0000001010), None);
    assert_eq!(symbolizer.unmapped(&process, 0x7f0000001010), Symbolized::unknown());
}
