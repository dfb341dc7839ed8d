//! Writing a profile to a file or standard output.

use std::path::{Path, PathBuf};

use anyhow::Context;
use firebox::formats::{self, OutputFormat};
use firebox::render::SvgOptions;
use firebox::Profile;

/// Fails early, before any work, when `path` cannot be written: its
/// directory is missing or not writable, or the path is a directory.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let dir = directory_of(path);
    if !dir.is_dir() {
        anyhow::bail!("the output directory {} does not exist", dir.display());
    }
    if path.is_dir() {
        anyhow::bail!("{} is a directory: give a file name", path.display());
    }
    // Make and drop the temporary file the real write will use.
    let probe = temporary_path(path);
    std::fs::File::create(&probe)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Where the bytes for `path` are written before they replace it.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.firebox-{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file next
/// to it first, then renamed over it, so a full disk leaves the old file as
/// it was instead of half a new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = temporary_path(path);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            use std::io::Write;
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("failed to write {}", path.display()))
}

/// Saves `profile` as folded stacks in the temporary directory, when the
/// output it was meant for could not be written: what was collected is not
/// lost. Returns where it went. The file is new (never one planted there
/// beforehand, nor a link), under a name nobody can guess.
pub fn rescue(profile: &Profile) -> Option<PathBuf> {
    use std::io::Write;
    let mut bytes = Vec::new();
    profile.write_folded(&mut bytes).ok()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..16u32 {
        let name = format!("firebox-rescued-{}-{nanos:09}-{attempt}.folded", std::process::id());
        let path = std::env::temp_dir().join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => return file.write_all(&bytes).ok().map(|()| path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Whether `a` and `b` name one file, however spelled: the same path, the
/// same file through links, or two names for a file yet to be made in one
/// directory.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    if a == Path::new("-") || b == Path::new("-") {
        return false;
    }
    let resolve = |p: &Path| -> Option<PathBuf> {
        if let Ok(real) = p.canonicalize() {
            return Some(real);
        }
        Some(directory_of(p).canonicalize().ok()?.join(p.file_name()?))
    };
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

/// The format `path`'s extension asks for.
pub fn format_of(path: &Path) -> anyhow::Result<OutputFormat> {
    OutputFormat::from_path(path).with_context(|| {
        format!(
            "cannot tell the output format from {}: use .svg, .folded, .txt, .pprof, .pb.gz or \
             .json",
            path.display()
        )
    })
}

/// Writes `profile` as `format` to `path` (`-` is standard output). A file
/// is written whole or not at all: the bytes are made first.
pub fn write(
    profile: &Profile,
    format: OutputFormat,
    svg: &SvgOptions,
    path: &Path,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    formats::write(profile, format, svg, &mut bytes)?;
    if path == Path::new("-") {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes).and_then(|()| stdout.flush()).context("failed to write to stdout")
    } else {
        write_atomically(path, &bytes)
    }
}
