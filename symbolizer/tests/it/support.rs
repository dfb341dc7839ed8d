//! What the symbolizer's integration tests share: building the workloads,
//! running them, reading their maps.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use firebox_symbolizer::Mapping;
use object::Object;

/// The workload sources under `fixtures/symbolizer/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/symbolizer").join(name)
}

/// A fresh scratch directory for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory named after the test.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("firebox-sym-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
        Scratch(dir)
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program` with `args`, failing the test with what is missing or what
/// went wrong.
pub fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{program}` is needed to build the test workloads: {e}"));
    assert!(
        output.status.success(),
        "`{program}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Compiles a C or C++ fixture (by extension) to `out` with `flags`.
pub fn compile_c(source: &str, out: &Path, flags: &[&str]) {
    let cxx = source.ends_with(".cpp");
    let src = fixture(source);
    let mut args: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
    args.extend([src.as_os_str(), "-o".as_ref(), out.as_os_str()]);
    run(if cxx { "c++" } else { "cc" }, &args);
}

/// Compiles the Rust fixture `source` as crate `app` to `out` with `flags`.
pub fn compile_rust(source: &str, out: &Path, flags: &[&str]) {
    let src = fixture(source);
    let mut args: Vec<&std::ffi::OsStr> =
        ["--crate-name", "app", "--edition", "2021"].iter().map(|f| f.as_ref()).collect();
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    args.extend([src.as_os_str(), "-o".as_ref(), out.as_os_str()]);
    run("rustc", &args);
}

/// A running workload: the addresses it printed, alive until dropped.
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The addresses the workload printed, by label.
    pub addrs: HashMap<String, u64>,
}

impl Workload {
    /// Starts `binary` and reads the `label 0xaddr` lines it prints.
    pub fn start(binary: &Path) -> Self {
        let mut child = Command::new(binary)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addrs = HashMap::new();
        for line in stdout.lines() {
            let line = line.expect("workload output is not text");
            if line == "ready" {
                break;
            }
            let (label, addr) = line.split_once(' ').expect("workload line is `label addr`");
            let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap();
            addrs.insert(label.to_string(), addr);
        }
        Workload { child, stdin, addrs }
    }

    /// The host pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address printed under `label`.
    pub fn addr(&self, label: &str) -> u64 {
        *self.addrs.get(label).unwrap_or_else(|| panic!("the workload printed no {label}"))
    }

    /// The mapping of this process that holds `addr`, as `/proc/PID/maps`
    /// shows it (no build-id).
    pub fn mapping_of(&self, addr: u64) -> Mapping {
        mapping_of(self.pid(), addr)
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every mapping of `pid` from `/proc/PID/maps`.
pub fn maps(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("cannot read maps");
    text.lines()
        .map(|line| {
            let mut fields = line.splitn(6, ' ');
            let range = fields.next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let _perms = fields.next();
            let offset = fields.next().unwrap();
            let path = fields.nth(2).unwrap_or("").trim_start();
            Mapping {
                start: u64::from_str_radix(start, 16).unwrap(),
                end: u64::from_str_radix(end, 16).unwrap(),
                file_offset: u64::from_str_radix(offset, 16).unwrap(),
                path: PathBuf::from(path),
                build_id: None,
            }
        })
        .collect()
}

/// The mapping of `pid` that holds `addr`.
pub fn mapping_of(pid: u32, addr: u64) -> Mapping {
    maps(pid)
        .into_iter()
        .find(|m| m.start <= addr && addr < m.end)
        .unwrap_or_else(|| panic!("no mapping of {pid} holds {addr:#x}"))
}

/// The GNU build-id of the ELF file at `path`.
pub fn build_id(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(data.as_slice()).unwrap();
    file.build_id().unwrap().expect("the workload has no build-id").to_vec()
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the build-id tree puts the debug file of `build_id` under `dir`.
pub fn build_id_path(dir: &Path, build_id: &[u8]) -> PathBuf {
    dir.join(".build-id").join(hex(&build_id[..1])).join(format!("{}.debug", hex(&build_id[1..])))
}

/// A pid that belongs to no process: one that ran and was reaped.
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("cannot run `true`");
    let pid = child.id();
    child.wait().unwrap();
    pid
}
