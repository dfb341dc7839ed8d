//! The debug-file cache: debug-bearing ELF files by build-id, and one index
//! per image saying which of them the image holds.
//!
//! Layout under the cache directory:
//!
//! ```text
//! .build-id/ab/cdef0123....debug   a debug file, named by its build-id
//! images/sha256-0123....json       what one image holds (an ImageIndex)
//! tmp/                             files being written, renamed when whole
//! ```
//!
//! The `.build-id` tree is the layout debuggers read, so the cache directory
//! also works as a `--debug-dir`. Files are written under a temporary name and
//! renamed into place, so a reader never sees half a file and two runs that
//! store the same object do not clash.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ImageIndex, INDEX_VERSION};
pub(crate) use crate::config::hex;
use crate::Error;

/// A directory of debug files keyed by build-id, and of image indexes.
#[derive(Clone, Debug)]
pub struct DebugCache {
    dir: PathBuf,
}

impl DebugCache {
    /// The cache at `dir`, created when missing.
    ///
    /// # Errors
    ///
    /// [`Error::Cache`] when the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        for sub in [".build-id", "images", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| Error::Cache { path, source })?;
        }
        Ok(DebugCache { dir })
    }

    /// The default place: `$XDG_CACHE_HOME/firebox/debug`, else
    /// `$HOME/.cache/firebox/debug`; `None` when neither variable is set.
    pub fn default_dir() -> Option<PathBuf> {
        // A relative XDG_CACHE_HOME is invalid by the spec and ignored.
        let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
        let base = match xdg {
            Some(dir) => dir,
            None => {
                PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache")
            }
        };
        Some(base.join("firebox").join("debug"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the object with `build_id` is (or would be) kept.
    pub fn object_path(&self, build_id: &[u8]) -> PathBuf {
        let hex = hex(build_id);
        let (first, rest) = hex.split_at(2.min(hex.len()));
        self.dir.join(".build-id").join(first).join(format!("{rest}.debug"))
    }

    pub(crate) fn has_object(&self, build_id: &[u8]) -> bool {
        self.object_path(build_id).is_file()
    }

    /// Writes an object under its build-id, whole or not at all.
    pub(crate) fn store_object(&self, build_id: &[u8], data: &[u8]) -> io::Result<()> {
        let path = self.object_path(build_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        self.write_atomically(&path, data)
    }

    pub(crate) fn remove_object(&self, build_id: &[u8]) {
        let _ = std::fs::remove_file(self.object_path(build_id));
    }

    /// The index of image `key` stored by an earlier run, when it is of this
    /// version and every object it names is still there.
    pub fn load_index(&self, key: &str) -> Option<ImageIndex> {
        let text = std::fs::read(self.index_file(key)).ok()?;
        let mut index: ImageIndex = serde_json::from_slice(&text).ok()?;
        if index.version != INDEX_VERSION || index.key != key {
            return None;
        }
        let complete =
            index.objects.keys().all(|id| unhex(id).is_some_and(|bytes| self.has_object(&bytes)));
        if !complete {
            return None;
        }
        index.reused = true;
        Some(index)
    }

    pub(crate) fn save_index(&self, index: &ImageIndex) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
        self.write_atomically(&self.index_file(&index.key), &text)
    }

    fn index_file(&self, key: &str) -> PathBuf {
        let name: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
            .collect();
        self.dir.join("images").join(format!("{name}.json"))
    }

    fn write_atomically(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join("tmp").join(format!("{}-{n}", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// The bytes of lowercase or uppercase hex text.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.is_empty() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects land in the `.build-id/xx/rest.debug` layout.
    #[test]
    fn objects_are_named_by_build_id() {
        let dir = std::env::temp_dir().join(format!("firebox-cache-names-{}", std::process::id()));
        let cache = DebugCache::open(&dir).unwrap();
        let id = unhex("ab12cd34ef").unwrap();
        assert_eq!(cache.object_path(&id), dir.join(".build-id/ab/12cd34ef.debug"));
        cache.store_object(&id, b"data").unwrap();
        assert!(cache.has_object(&id));
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0, "no temporary left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Hex round-trips and rejects odd lengths and non-hex digits.
    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert_eq!(unhex("0aFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
