//! `firebox record --container` on real containers of the local Docker
//! engine, built `FROM scratch` from binaries compiled here: names from debug
//! files in the container's root, in its image's layers, in a debug image and
//! in a debug archive; files read through the container's mount namespace; a
//! JIT's perf map; `docker exec`; a container that stops; and every error.
//!
//! Every container and image is named `firebox-test-...-<pid>` and removed by
//! the test that made it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::record::{read_folded, share_of};
use crate::support::{compile, describe, firebox, fixtures, Scratch};

/// Runs the docker CLI; the engine is part of what these tests need.
fn docker(args: &[&str]) -> Output {
    let output = Command::new("docker").args(args).output().unwrap_or_else(|e| {
        panic!("the docker CLI is needed (Debian's docker.io; scripts/test installs it): {e}")
    });
    output
}

/// Runs the docker CLI and fails the test when it fails.
fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(output.status.success(), "docker {args:?} failed: {}", describe(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Container tests take turns (with the other CPU-bound tests): each busy
/// container would otherwise starve the others of the CPU, and their sample
/// counts with it.
fn engine_turn() -> std::sync::MutexGuard<'static, ()> {
    crate::support::cpu_turn()
}

fn require_daemon() {
    let output = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        output.status.success(),
        "no Docker daemon answers: start `dockerd --iptables=false --bridge=none` \
         (scripts/test does): {}",
        describe(&output)
    );
}

/// A unique resource name for this test run.
fn unique(what: &str) -> String {
    format!("firebox-test-{what}-{}", std::process::id())
}

/// An image built from a directory, removed when dropped.
struct Image(String);

impl Image {
    /// Builds `context` (with its Dockerfile) as `name`.
    fn build(name: String, context: &Path) -> Image {
        require_daemon();
        let output = Command::new("docker")
            .args(["build", "-q", "-t", &name])
            .arg(context)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("the docker CLI is needed");
        assert!(output.status.success(), "docker build {name}: {}", describe(&output));
        Image(name)
    }

    fn id(&self) -> String {
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &self.0])
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// A container, removed when dropped.
struct Container(String);

impl Container {
    /// `docker run -d --network none` of `image` with `options` and `args`.
    fn run(name: String, image: &Image, options: &[&str], args: &[&str]) -> Container {
        let mut all = vec!["run", "-d", "--name", &name, "--network", "none"];
        all.extend_from_slice(options);
        all.push(&image.0);
        all.extend_from_slice(args);
        docker_ok(&all);
        Container(name)
    }

    /// `docker create` only: a container with no process.
    fn create(name: String, image: &Image) -> Container {
        docker_ok(&["create", "--name", &name, "--network", "none", &image.0]);
        Container(name)
    }

    fn pid(&self) -> u32 {
        docker_ok(&["inspect", "--format", "{{.State.Pid}}", &self.0]).parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// The `split` workload built static, its debug file split off and the
/// binary stripped of every symbol.
struct StrippedSplit {
    dir: PathBuf,
    build_id: String,
}

impl StrippedSplit {
    fn binary(&self) -> PathBuf {
        self.dir.join("split")
    }

    fn debug(&self) -> PathBuf {
        self.dir.join("split.debug")
    }

    /// `usr/lib/debug/.build-id/xx/rest.debug`.
    fn build_id_path(&self) -> String {
        format!("usr/lib/debug/.build-id/{}/{}.debug", &self.build_id[..2], &self.build_id[2..])
    }
}

fn run_tool(program: &str, args: &[&std::ffi::OsStr]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("`{program}` (binutils) is needed: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

fn stripped_split() -> &'static StrippedSplit {
    static BIN: OnceLock<StrippedSplit> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("firebox-it-cbin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let full = dir.join("split.full");
        compile(
            &[fixtures().join("workloads/split.c")],
            &full,
            // -O0: gcc 12 gives leaf functions no frame pointer at -O1 even
            // with -mno-omit-leaf-frame-pointer, and `hot` would drop out of
            // frame-pointer callchains that sample `spin`.
            &["-O0", "-g", "-fno-omit-frame-pointer", "-pthread", "-static", "-Wl,--build-id"],
        );
        let debug = dir.join("split.debug");
        let stripped = dir.join("split");
        run_tool("objcopy", &["--only-keep-debug".as_ref(), full.as_os_str(), debug.as_os_str()]);
        run_tool("objcopy", &["--strip-all".as_ref(), full.as_os_str(), stripped.as_os_str()]);
        let build_id = build_id_of(&stripped);
        assert_eq!(build_id_of(&debug), build_id, "the debug file keeps the build-id");
        StrippedSplit { dir, build_id }
    })
}

/// The GNU build-id of an ELF file, as `readelf -n` prints it.
fn build_id_of(path: &Path) -> String {
    let output = Command::new("readelf")
        .arg("-n")
        .arg(path)
        .output()
        .expect("`readelf` (binutils) is needed");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("{} has no build-id", path.display()))
        .trim()
        .to_string()
}

/// A build context with `files` (source, destination in the image) copied in
/// one layer each, in order, and an entrypoint.
fn context(scratch: &Scratch, files: &[(&Path, &str)], entrypoint: &[&str]) -> PathBuf {
    let dir = scratch.path("context");
    std::fs::create_dir_all(&dir).unwrap();
    let mut dockerfile = String::from("FROM scratch\n");
    for (i, (source, destination)) in files.iter().enumerate() {
        let name = format!("f{i}");
        std::fs::copy(source, dir.join(&name)).unwrap();
        dockerfile.push_str(&format!("COPY {name} /{destination}\n"));
    }
    let quoted: Vec<String> = entrypoint.iter().map(|a| format!("\"{a}\"")).collect();
    dockerfile.push_str(&format!("ENTRYPOINT [{}]\n", quoted.join(", ")));
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// Runs `firebox record` with `args`, a private debug cache in `scratch`,
/// and returns the folded output, the JSON summary and the run itself.
fn record(scratch: &Scratch, args: &[&str]) -> (BTreeMap<String, u64>, Value, Output) {
    record_while(scratch, args, || {})
}

/// Like [`record`], calling `during` once the events are attached (firebox
/// logs `attached` at -v).
fn record_while(
    scratch: &Scratch,
    args: &[&str],
    during: impl FnOnce(),
) -> (BTreeMap<String, u64>, Value, Output) {
    use std::io::{BufRead, BufReader};

    let out = scratch.path("out.folded");
    let summary = scratch.path("summary.json");
    let _ = std::fs::remove_file(&out);
    let mut child = firebox()
        .args(["record", "-v"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg("--json-summary")
        .arg(&summary)
        .env("XDG_CACHE_HOME", scratch.path("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (attached_tx, attached_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("attached") {
                let _ = attached_tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    if attached_rx.recv_timeout(Duration::from_secs(60)).is_ok() {
        during();
    }
    let status = child.wait().unwrap();
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let output = Output { status, stdout, stderr: reader.join().unwrap().into_bytes() };
    assert!(output.status.success(), "{}", describe(&output));
    let text = std::fs::read_to_string(&summary)
        .unwrap_or_else(|e| panic!("no JSON summary: {e}\n{}", describe(&output)));
    let summary: Value = serde_json::from_str(&text).expect("the summary is JSON");
    (read_folded(&out), summary, output)
}

/// The summary's entry for `module`.
fn module<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["modules"]
        .as_array()
        .expect("the summary lists modules")
        .iter()
        .find(|m| m["module"] == name)
        .unwrap_or_else(|| panic!("no module {name} in the summary: {summary:#}"))
}

/// The share (0-100) of samples under `root` whose stack holds `frame`.
fn share_under(stacks: &BTreeMap<String, u64>, root: &str, frame: &str) -> f64 {
    let mine: BTreeMap<String, u64> = stacks
        .iter()
        .filter(|(s, _)| s.starts_with(&format!("{root};")))
        .map(|(s, n)| (s.clone(), *n))
        .collect();
    assert!(!mine.is_empty(), "no samples under {root}: {stacks:#?}");
    share_of(&mine, frame)
}

/// Asserts the split workload's samples carry their real names.
fn assert_named(stacks: &BTreeMap<String, u64>, root: &str) {
    let run = share_under(stacks, root, "run");
    assert!(run >= 95.0, "only {run:.1}% of samples name `run`: {stacks:#?}");
    let hot = share_under(stacks, root, "hot");
    // Three standard deviations of a share of n samples, at least 5 points:
    // under a loaded machine a container may get few samples.
    let n: u64 =
        stacks.iter().filter(|(s, _)| s.starts_with(&format!("{root};"))).map(|(_, n)| n).sum();
    let tolerance = (300.0 * (0.75 * 0.25 / n as f64).sqrt()).max(5.0);
    assert!(
        (hot - 75.0).abs() <= tolerance,
        "hot has {hot:.1}% of {n} samples, expected 75 ± {tolerance:.1}: {stacks:#?}"
    );
    assert!(stacks.keys().any(|s| s.contains("main;run;step;hot")), "{stacks:#?}");
}

/// The container image of the stripped split with its debug file in a layer
/// of its own at the build-id path.
fn split_with_debug_layer(scratch: &Scratch, what: &str) -> Image {
    let split = stripped_split();
    let debug_path = split.build_id_path();
    let files = [(split.binary(), "split"), (split.debug(), debug_path.as_str())];
    let files: Vec<(&Path, &str)> = files.iter().map(|(p, d)| (p.as_path(), *d)).collect();
    Image::build(unique(what), &context(scratch, &files, &["/split"]))
}

/// C28: a stripped binary whose debug file sits in the container's root
/// under `/usr/lib/debug/.build-id/xx/rest.debug` gets its names from it
/// (with the image layers left out, so the root is what serves).
#[test]
fn c28_debug_file_in_the_container_root_by_build_id() {
    let _turn = engine_turn();
    let scratch = Scratch::new("c28");
    let image = split_with_debug_layer(&scratch, "c28");
    let container = Container::run(unique("c28"), &image, &[], &["20"]);
    let (stacks, summary, _) =
        record(&scratch, &["--container", &container.0, "-d", "3s", "--no-image-layers"]);
    assert_named(&stacks, &format!("{};split", container.0));
    let split = module(&summary, "split");
    assert_eq!(split["debug_file"]["origin"], "container-root", "{split:#}");
    assert_eq!(split["build_id"], stripped_split().build_id.as_str());
}

/// The debug file in a separate image layer, hidden from the running
/// container (a tmpfs over /usr/lib/debug): names come from the image's
/// layers, at least 95% of samples carry them, and a second recording of
/// the same image reuses the index instead of exporting again.
#[test]
fn debug_file_from_an_image_layer_and_the_index_reused() {
    let _turn = engine_turn();
    let scratch = Scratch::new("layer");
    let image = split_with_debug_layer(&scratch, "layer");
    let container =
        Container::run(unique("layer"), &image, &["--tmpfs", "/usr/lib/debug"], &["30"]);
    let args = ["--container", container.0.as_str(), "-d", "3s"];

    let (stacks, summary, _) = record(&scratch, &args);
    assert_named(&stacks, &format!("{};split", container.0));
    let split = module(&summary, "split");
    assert_eq!(split["debug_file"]["origin"], "image-layer", "{split:#}");
    let images = summary["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{summary:#}");
    assert_eq!(images[0]["id"], image.id().as_str());
    assert_eq!(images[0]["reused"], false, "the first run exports the image");

    let index = scratch.path("cache/firebox/debug/images");
    let stored: Vec<_> = std::fs::read_dir(&index).unwrap().flatten().collect();
    assert_eq!(stored.len(), 1, "one index, keyed by the image id");
    let modified = stored[0].metadata().unwrap().modified().unwrap();

    let (stacks, summary, _) = record(&scratch, &args);
    assert_named(&stacks, &format!("{};split", container.0));
    assert_eq!(summary["images"][0]["reused"], true, "the second run reuses the index");
    let again = std::fs::read_dir(&index).unwrap().flatten().next().unwrap();
    assert_eq!(
        again.metadata().unwrap().modified().unwrap(),
        modified,
        "the index is not rewritten"
    );
}

/// Without any debug file the frames are module+offset, and the summary
/// says why.
#[test]
fn without_debug_info_frames_are_module_offsets_and_the_summary_says_why() {
    let _turn = engine_turn();
    let scratch = Scratch::new("nodebug");
    let split = stripped_split();
    let image = Image::build(
        unique("nodebug"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let container = Container::run(unique("nodebug"), &image, &[], &["20"]);
    let (stacks, summary, _) = record(&scratch, &["--container", &container.0, "-d", "3s"]);

    let root = format!("{};split", container.0);
    assert_eq!(share_under(&stacks, &root, "hot"), 0.0, "no names without debug info");
    let offsets = stacks.keys().filter(|s| s.contains(";split+0x")).count();
    assert!(offsets > 0, "frames are split+0x...: {stacks:#?}");
    let entry = module(&summary, "split");
    assert!(entry["from"]["unresolved"].as_u64().unwrap() > 0, "{entry:#}");
    let reason = entry["unresolved_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no debug file") && reason.contains(&split.build_id), "{entry:#}");
}

/// The stripped binary with its symbols only in `--debug-image`.
#[test]
fn debug_image_gives_the_names() {
    let _turn = engine_turn();
    let scratch = Scratch::new("dbgimg");
    let split = stripped_split();
    let image = Image::build(
        unique("dbgimg-app"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let debug_scratch = Scratch::new("dbgimg-debug");
    let debug_path = split.build_id_path();
    let debug_image = Image::build(
        unique("dbgimg-debug"),
        &context(&debug_scratch, &[(&split.debug(), debug_path.as_str())], &["/none"]),
    );
    let container = Container::run(unique("dbgimg"), &image, &[], &["20"]);
    let (stacks, summary, _) = record(
        &scratch,
        &["--container", &container.0, "-d", "3s", "--debug-image", &debug_image.0],
    );
    assert_named(&stacks, &format!("{};split", container.0));
    assert_eq!(module(&summary, "split")["debug_file"]["origin"], "debug-image");
}

/// The debug file in a `--debug-dir` laid out as a build-id tree.
#[test]
fn debug_dir_gives_the_names() {
    let _turn = engine_turn();
    let scratch = Scratch::new("dbgdir");
    let split = stripped_split();
    let image = Image::build(
        unique("dbgdir"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let dir = scratch.path("debug");
    let relative = split.build_id_path();
    let target = dir.join(relative.trim_start_matches("usr/lib/debug/"));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(split.debug(), &target).unwrap();
    let container = Container::run(unique("dbgdir"), &image, &[], &["20"]);
    let (stacks, summary, _) = record(
        &scratch,
        &["--container", &container.0, "-d", "3s", "--debug-dir", dir.to_str().unwrap()],
    );
    assert_named(&stacks, &format!("{};split", container.0));
    assert_eq!(module(&summary, "split")["debug_file"]["origin"], "debug-dir");
}

/// Compiles the libwork library with its function named `name`.
fn libwork(out: &Path, name: &str) {
    compile(
        &[fixtures().join("workloads/libwork.c")],
        out,
        &[
            "-O1",
            "-g0",
            "-fPIC",
            "-shared",
            "-Wl,--build-id",
            "-Wl,-soname,libwork.so",
            &format!("-DSPIN_NAME={name}"),
        ],
    );
}

/// C27 and the container's libc: a dynamically linked program in an image
/// that holds its own libc, ld.so and libwork.so. The host holds another
/// build of libwork.so at the very same path, with its function under
/// another name, and the image's libc differs from the host's by build-id.
/// Names must come from the container's files.
#[test]
fn c27_libraries_are_read_through_the_container_mount_namespace() {
    let _turn = engine_turn();
    let scratch = Scratch::new("c27");
    // The same absolute path on the host and in the image.
    let shared_dir = scratch.path("lib");
    std::fs::create_dir_all(&shared_dir).unwrap();
    let lib_path = shared_dir.join("libwork.so");
    libwork(&lib_path, "host_spin");
    let container_lib = scratch.path("container-libwork.so");
    libwork(&container_lib, "container_spin");

    let program = scratch.path("dynwork");
    compile(
        &[fixtures().join("workloads/dynwork.c")],
        &program,
        &[
            "-O1",
            "-fno-omit-frame-pointer",
            "-DSPIN_NAME=container_spin",
            "-Wl,--no-as-needed",
            &container_lib.display().to_string(),
            &format!("-Wl,-rpath,{}", shared_dir.display()),
        ],
    );

    // The image's libc: the host's, with its build-id changed, so a frame
    // symbolized from the host's file would carry the wrong build-id.
    let host_libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let libc = scratch.path("libc.so.6");
    std::fs::write(&libc, with_flipped_build_id(&std::fs::read(host_libc).unwrap())).unwrap();
    let libc_id = build_id_of(&libc);
    assert_ne!(libc_id, build_id_of(host_libc));

    let lib_in_image = lib_path.display().to_string();
    let files = [
        (program.as_path(), "dynwork"),
        (container_lib.as_path(), lib_in_image.trim_start_matches('/')),
        (libc.as_path(), "lib/x86_64-linux-gnu/libc.so.6"),
        (Path::new("/lib64/ld-linux-x86-64.so.2"), "lib64/ld-linux-x86-64.so.2"),
    ];
    let image = Image::build(unique("c27"), &context(&scratch, &files, &["/dynwork"]));
    let container = Container::run(unique("c27"), &image, &[], &["20"]);
    let (stacks, summary, _) = record(&scratch, &["--container", &container.0, "-d", "3s"]);

    let root = format!("{};dynwork", container.0);
    let spin = share_under(&stacks, &root, "container_spin");
    assert!(spin > 20.0, "container_spin has {spin:.1}% of samples: {stacks:#?}");
    assert_eq!(share_under(&stacks, &root, "host_spin"), 0.0, "the host's library was read");
    let rand = share_under(&stacks, &root, "random_r") + share_under(&stacks, &root, "random");
    assert!(rand > 10.0, "libc's random/random_r have {rand:.1}%: {stacks:#?}");
    // libc has no frame pointers: stacks through it reach _start only when
    // its CFI, read from the container's copy (the host's has another
    // build-id), unwinds them.
    let (in_libc, whole): (u64, u64) = stacks
        .iter()
        .filter(|(stack, _)| stack.split(';').any(|f| f == "random_r" || f == "random"))
        .fold((0, 0), |(all, whole), (stack, &n)| {
            let through = stack.contains(";_start;") && stack.contains(";use_libc;");
            (all + n, whole + if through { n } else { 0 })
        });
    let share = 100.0 * whole as f64 / in_libc.max(1) as f64;
    assert!(share >= 90.0, "{share:.1}% of libc samples unwound to _start: {stacks:#?}");
    let libc_entry = module(&summary, "libc.so.6");
    assert_eq!(libc_entry["build_id"], libc_id.as_str(), "{libc_entry:#}");
    let file = libc_entry["file"].as_str().unwrap_or_default();
    assert!(file.starts_with(&format!("/proc/{}/", container.pid())), "read from {file}");
    assert!(libc_entry["symbolized"].as_u64().unwrap() > 0, "{libc_entry:#}");
}

/// `elf` with the bytes of its GNU build-id note inverted.
fn with_flipped_build_id(elf: &[u8]) -> Vec<u8> {
    let mut out = elf.to_vec();
    // The note: namesz=4, descsz=20, type=3 (NT_GNU_BUILD_ID), "GNU\0".
    let header: [u8; 16] = [4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, b'G', b'N', b'U', 0];
    let at = out.windows(16).position(|w| w == header).expect("a GNU build-id note") + 16;
    for byte in &mut out[at..at + 20] {
        *byte = !*byte;
    }
    out
}

/// A perf map that a process writes inside the container, named by its
/// namespace pid, names its JIT code.
#[test]
fn perf_map_written_inside_the_container_is_used() {
    let _turn = engine_turn();
    let scratch = Scratch::new("jit");
    let jit = scratch.path("jit");
    compile(
        &[fixtures().join("workloads/jit.c")],
        &jit,
        &["-O1", "-static", "-fno-omit-frame-pointer"],
    );
    let image = Image::build(unique("jit"), &context(&scratch, &[(&jit, "jit")], &["/jit"]));
    let container = Container::run(unique("jit"), &image, &[], &["20"]);
    std::thread::sleep(Duration::from_millis(300));
    let (stacks, summary, _) = record(&scratch, &["--container", &container.0, "-d", "3s"]);
    let share = share_under(&stacks, &format!("{};jit", container.0), "jit_spin_loop_[j]");
    assert!(share > 60.0, "jit_spin_loop has {share:.1}% of samples: {stacks:#?}");
    assert!(module(&summary, "[jit]")["from"]["perf-map"].as_u64().unwrap() > 0);
    // The process is pid 1 in its namespace: the map is perf-1.map in the
    // container's /tmp, not perf-<host pid>.map.
    let map = format!("/proc/{}/root/tmp/perf-1.map", container.pid());
    assert!(Path::new(&map).exists(), "{map} is where the workload wrote its map");
}

/// The same JIT workload as a plain process: its map at
/// `/tmp/perf-PID.map` names the code.
#[test]
fn perf_map_of_a_plain_process_is_used() {
    let _turn = engine_turn();
    let scratch = Scratch::new("jit-host");
    let jit = scratch.path("jit");
    compile(&[fixtures().join("workloads/jit.c")], &jit, &["-O1", "-fno-omit-frame-pointer"]);
    let out = scratch.path("jit.folded");
    let output =
        firebox().args(["record", "-o"]).arg(&out).arg("--").arg(&jit).arg("2").output().unwrap();
    let map = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(map.starts_with("/tmp/perf-") && map.ends_with(".map"), "{}", describe(&output));
    std::fs::remove_file(&map).unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stacks = read_folded(&out);
    let share = share_of(&stacks, "jit_spin_loop_[j]");
    assert!(share > 60.0, "jit_spin_loop has {share:.1}% of samples: {stacks:#?}");
}

/// A process started with `docker exec` during the recording is sampled
/// under the container's root frame.
#[test]
fn docker_exec_during_the_recording_shows_up() {
    let _turn = engine_turn();
    let scratch = Scratch::new("exec");
    let split = stripped_split();
    let files = [(split.binary(), "split"), (split.binary(), "other")];
    let files: Vec<(&Path, &str)> = files.iter().map(|(p, d)| (p.as_path(), *d)).collect();
    let image = Image::build(unique("exec"), &context(&scratch, &files, &["/split"]));
    let container = Container::run(unique("exec"), &image, &[], &["20"]);
    let (stacks, summary, _) =
        record_while(&scratch, &["--container", &container.0, "-d", "4s"], || {
            std::thread::sleep(Duration::from_millis(500));
            docker_ok(&["exec", "-d", &container.0, "/other", "2"]);
        });
    let other: u64 = stacks
        .iter()
        .filter(|(s, _)| s.starts_with(&format!("{};other;", container.0)))
        .map(|(_, n)| n)
        .sum();
    assert!(other >= 20, "the exec'd process has {other} samples: {stacks:#?}");
    assert!(stacks.keys().any(|s| s.starts_with(&format!("{};split;", container.0))));
    assert!(summary["processes"].as_u64().unwrap() >= 2, "{summary:#}");
}

/// A Go service in a container keeps frame pointers: `auto` walks them, no
/// stack is copied, and its stacks are whole. A `docker exec` of a static
/// C program (whose libc has none) then turns the container's events to
/// stack copies, and that program's stacks are whole too.
#[test]
fn a_go_container_is_walked_by_frame_pointers_until_exec_brings_a_module_without() {
    let _turn = engine_turn();
    let scratch = Scratch::new("go-fp");
    let go = crate::call_graph::fpchain_binary();
    let split = stripped_split();
    let files = [
        (go.to_path_buf(), "fpchain".to_string()),
        (split.binary(), "split".to_string()),
        (split.debug(), split.build_id_path()),
    ];
    let files: Vec<(&Path, &str)> = files.iter().map(|(p, d)| (p.as_path(), d.as_str())).collect();
    let image = Image::build(unique("go-fp"), &context(&scratch, &files, &["/fpchain"]));
    let label = format!("firebox-test-go-fp={}", std::process::id());
    // Long enough for a loaded machine; the container is removed at the end.
    let container = Container::run(unique("go-fp"), &image, &["--label", &label], &["300"]);

    let (stacks, summary, _) = record(&scratch, &["--container", &container.0, "-d", "2s"]);
    let leaf = format!(
        "{};fpchain;runtime.goexit.abi0;runtime.main;main.main;main.outer;main.middle;main.leaf",
        container.0
    );
    let total: u64 = stacks.values().sum();
    assert!(stacks.get(&leaf).is_some_and(|&n| n * 100 >= total * 95), "{stacks:#?}");
    assert_eq!(summary["stacks"]["unwound_from_copies"], 0, "{:#}", summary["stacks"]);
    assert!(summary["stacks"]["switched_to_copies_by"].is_null(), "{:#}", summary["stacks"]);

    let (stacks, summary, _) =
        record_while(&scratch, &["--container", &container.0, "-d", "4s"], || {
            std::thread::sleep(Duration::from_millis(500));
            docker_ok(&["exec", "-d", &container.0, "/split", "2"]);
        });
    assert_eq!(summary["stacks"]["switched_to_copies_by"], "split", "{:#}", summary["stacks"]);
    let prefix = format!("{};split;", container.0);
    let (mut split_samples, mut whole) = (0, 0);
    for (stack, &n) in stacks.iter().filter(|(s, _)| s.starts_with(&prefix)) {
        split_samples += n;
        if stack[prefix.len()..].starts_with("_start;") {
            whole += n;
        }
    }
    assert!(split_samples >= 100, "the exec'd program has {split_samples} samples: {stacks:#?}");
    assert!(whole * 100 >= split_samples * 85, "{whole} of {split_samples} whole: {stacks:#?}");

    // Each container goes its own way: beside one running the C program
    // from the start, the Go container is still walked by frame pointers
    // (once the program exec'd into it has ended).
    let ended = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !docker_ok(&["top", &container.0]).contains("/split")
    });
    assert!(ended, "the exec'd /split still runs in {}", container.0);
    let options = ["--label", label.as_str(), "--entrypoint", "/split"];
    let _c = Container::run(unique("go-fp-c"), &image, &options, &["20"]);
    let (stacks, summary, output) = record(&scratch, &["--label", &label, "-d", "3s"]);
    let counts = &summary["stacks"];
    let walks = counts["frame_pointer_walks"].as_u64().unwrap();
    assert!(walks >= 100, "{counts:#}\n{}", describe(&output));
    assert!(counts["unwound_from_copies"].as_u64().unwrap() >= 100, "{counts:#}");
    assert!(counts["switched_to_copies_by"].is_null(), "{counts:#}");
    assert_eq!(counts["copies_from_start_because"], "split keeps no frame pointers", "{counts:#}");
    let go_samples: u64 = stacks.iter().filter(|(s, _)| s.starts_with(&leaf)).map(|(_, n)| n).sum();
    assert!(go_samples >= 100, "{stacks:#?}");
}

/// A container that stops in the middle of the recording: what was
/// collected is written, with a warning, and the exit code is 0.
#[test]
fn container_stopping_midway_keeps_the_samples() {
    let _turn = engine_turn();
    let scratch = Scratch::new("stop");
    let split = stripped_split();
    let image = Image::build(
        unique("stop"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let container = Container::run(unique("stop"), &image, &[], &["2"]);
    let started = Instant::now();
    let (stacks, _, output) = record(&scratch, &["--container", &container.0, "-d", "30s"]);
    assert!(started.elapsed() < Duration::from_secs(15), "the recording ends with the container");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("container {} stopped after", container.0)),
        "a warning says the container stopped: {stderr}"
    );
    let total: u64 = stacks.values().sum();
    assert!(total >= 30, "the samples before the stop are kept: {stacks:#?}");
}

/// `--label` selects every running container with the label, each under
/// its own root frame.
#[test]
fn label_selects_every_matching_container() {
    let _turn = engine_turn();
    let scratch = Scratch::new("label");
    let split = stripped_split();
    let image = Image::build(
        unique("label"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let label = format!("firebox-test={}", std::process::id());
    let a = Container::run(unique("label-a"), &image, &["--label", &label], &["20"]);
    let b = Container::run(unique("label-b"), &image, &["--label", &label], &["20"]);
    let (stacks, summary, _) = record(&scratch, &["--label", &label, "-d", "3s"]);
    for c in [&a, &b] {
        let n: u64 = stacks
            .iter()
            .filter(|(s, _)| s.starts_with(&format!("{};", c.0)))
            .map(|(_, n)| n)
            .sum();
        assert!(n >= 50, "{} has {n} samples: {stacks:#?}", c.0);
    }
    assert_eq!(summary["containers"].as_array().unwrap().len(), 2);
}

fn assert_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", describe(output));
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "firebox panicked: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// A name that matches no container is an error with exit code 2.
#[test]
fn no_such_container_is_an_error() {
    let _turn = engine_turn();
    require_daemon();
    let name = unique("missing");
    let output =
        firebox().args(["record", "--container", &name, "-o", "/tmp/x.svg"]).output().unwrap();
    assert_error(&output, &format!("no such container: {name}"));
}

/// With no daemon on the socket DOCKER_HOST names, the error names that
/// socket.
#[test]
fn docker_not_running_names_the_socket() {
    let _turn = engine_turn();
    let scratch = Scratch::new("nodaemon");
    let socket = scratch.path("docker.sock");
    // A socket file that nothing listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let host = format!("unix://{}", socket.display());
    let output = firebox()
        .args(["record", "--container", "anything", "-o", "/tmp/x.svg"])
        .env("DOCKER_HOST", &host)
        .output()
        .unwrap();
    assert_error(&output, &format!("cannot reach the Docker daemon at {host}"));
}

/// A container that was created but never started has no process to
/// sample: an error that says so.
#[test]
fn created_container_is_not_running() {
    let _turn = engine_turn();
    let scratch = Scratch::new("created");
    let split = stripped_split();
    let image = Image::build(
        unique("created"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let container = Container::create(unique("created"), &image);
    let output = firebox()
        .args(["record", "--container", &container.0, "-o", "/tmp/x.svg"])
        .output()
        .unwrap();
    assert_error(&output, &format!("container {} is not running (it is created)", container.0));
}

/// A hand-made debug archive with a layer of `..`, absolute and symlinked
/// entries, a gzip bomb past the cap and a corrupt gzip layer next to a good
/// one: nothing is written outside the cache, each bad layer is a warning,
/// and the profile still comes out with the names from the good layer.
#[test]
fn hostile_debug_archive_is_contained() {
    let _turn = engine_turn();
    let scratch = Scratch::new("hostile");
    let split = stripped_split();
    let image = Image::build(
        unique("hostile"),
        &context(&scratch, &[(&split.binary(), "split")], &["/split"]),
    );
    let archive = scratch.path("hostile.tar");
    let debug = std::fs::read(split.debug()).unwrap();
    let marker = format!("firebox-escape-{}", std::process::id());
    std::fs::write(&archive, hostile_archive(&debug, &split.build_id_path(), &marker)).unwrap();
    let container = Container::run(unique("hostile"), &image, &[], &["20"]);
    let before = listing(&scratch.path(""));

    let (stacks, summary, output) = record(
        &scratch,
        &[
            "--container",
            &container.0,
            "-d",
            "3s",
            "--no-image-layers",
            "--debug-archive",
            archive.to_str().unwrap(),
            "--max-layer-size",
            "8M",
        ],
    );
    assert_named(&stacks, &format!("{};split", container.0));
    assert_eq!(module(&summary, "split")["debug_file"]["origin"], "debug-archive");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "entries with `..` in their path were ignored",
        "was skipped: it inflates past 8388608 bytes",
        "was skipped: it is not a valid tar or gzip stream",
    ] {
        assert!(stderr.contains(needle), "no warning {needle:?}: {stderr}");
    }

    let mut after = listing(&scratch.path(""));
    after.retain(|p| !p.starts_with("cache") && p != "out.folded" && p != "summary.json");
    assert_eq!(after, before, "nothing was written outside the cache");
    let cache = scratch.path("cache/firebox/debug");
    let id = &split.build_id;
    let mut files = listing(&cache);
    files.retain(|p| !cache.join(p).is_dir());
    assert_eq!(
        files,
        [format!(".build-id/{}/{}.debug", &id[..2], &id[2..])],
        "only the debug file is kept"
    );
    for outside in [format!("/tmp/{marker}"), format!("/etc/{marker}"), format!("/{marker}")] {
        assert!(!Path::new(&outside).exists(), "{outside} was written");
    }
}

/// Every path under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(here) = pending.pop() {
        for entry in std::fs::read_dir(&here).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// A `docker save` archive with four layers: hostile entries, a gzip bomb,
/// a corrupt gzip stream, and a good layer holding `debug` at `debug_path`.
fn hostile_archive(debug: &[u8], debug_path: &str, marker: &str) -> Vec<u8> {
    let escape = raw_tar(&[
        (format!("../../../../tmp/{marker}"), b"climbed".to_vec(), None),
        (format!("/etc/{marker}"), b"absolute".to_vec(), None),
        ("out".to_string(), Vec::new(), Some("/")),
        (format!("out/{marker}"), b"through a link".to_vec(), None),
    ]);
    let bomb = gzip(&raw_tar(&[("zeros".to_string(), vec![0u8; 48 << 20], None)]));
    let mut corrupt = gzip(&raw_tar(&[("x".to_string(), debug.to_vec(), None)]));
    corrupt.truncate(corrupt.len() / 2);
    corrupt.extend_from_slice(&[0x5a; 512]);
    let good = raw_tar(&[(debug_path.to_string(), debug.to_vec(), None)]);

    let layers = [
        ("escape/layer.tar", escape),
        ("bomb/layer.tar", bomb),
        ("corrupt/layer.tar", corrupt),
        ("good/layer.tar", good),
    ];
    let names: Vec<String> = layers.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let manifest = format!(r#"[{{"Config":"c.json","Layers":[{}]}}]"#, names.join(","));
    let mut entries: Vec<(String, Vec<u8>, Option<&str>)> =
        layers.into_iter().map(|(n, d)| (n.to_string(), d, None)).collect();
    entries.push(("c.json".to_string(), b"{}".to_vec(), None));
    entries.push(("manifest.json".to_string(), manifest.into_bytes(), None));
    raw_tar(&entries)
}

/// A tar written header by header, so that names the `tar` crate would
/// refuse (`..`, absolute) can be written; a link target makes a symlink.
fn raw_tar(entries: &[(String, Vec<u8>, Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(target) = link {
            old.linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_entry_type(if link.is_some() {
            tar::EntryType::Symlink
        } else {
            tar::EntryType::Regular
        });
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
