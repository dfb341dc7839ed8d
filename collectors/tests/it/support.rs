//! What the reader tests share.

use std::path::{Path, PathBuf};

use firebox_collectors::formats::{self, ReadOptions};
use firebox_model::Profile;

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Reads a fixture with format detection.
pub fn read_fixture(relative: &str) -> Profile {
    let path = fixtures().join(relative);
    formats::read_path(&path, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads bytes with format detection.
pub fn read(bytes: &[u8]) -> Result<Profile, firebox_collectors::Error> {
    formats::read_bytes(bytes, &ReadOptions::default())
}
