//! What the integration tests share: the firebox binary, compiled workloads,
//! scratch directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The firebox binary under test.
pub fn firebox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_firebox"))
}

/// Runs firebox with `args` and returns what it did.
pub fn run_firebox<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    firebox().args(args).output().expect("the firebox binary could not be started")
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fresh scratch directory for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory named after the test.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("firebox-it-{name}-{}", std::process::id()));
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

/// Compiles C or C++ sources with `cc`/`c++` (chosen by the first source's
/// extension) into `out`, with extra compiler `flags`.
///
/// # Panics
///
/// When the compiler is missing or fails: the test cannot go on without it.
pub fn compile(sources: &[PathBuf], out: &Path, flags: &[&str]) {
    let cxx =
        sources.first().is_some_and(|s| s.extension().is_some_and(|e| e == "cpp" || e == "cc"));
    let compiler = if cxx { "c++" } else { "cc" };
    let status = Command::new(compiler)
        .args(flags)
        .args(sources)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap_or_else(|e| panic!("`{compiler}` is needed to build the test workloads: {e}"));
    assert!(status.success(), "`{compiler}` failed to build {}", out.display());
}

/// Stdout and stderr of `output`, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Tests that keep both cores busy, and tests whose shares or sample rates
/// a busy machine would skew, take turns.
pub fn cpu_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
