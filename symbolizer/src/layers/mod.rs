//! Debug info from the layers of a container image.
//!
//! A container often runs stripped binaries while the image that made it (or
//! a separate debug image) carries their debug files in a layer, in
//! `/usr/lib/debug/.build-id/..`, next to the binary, or anywhere else. This
//! module reads an image archive (`docker save` or an OCI layout, layers as
//! plain or gzip tar), stacks the layers with their whiteouts, and keeps
//! every ELF file that carries DWARF or a symbol table in a
//! [`DebugCache`], named by its GNU build-id. An [`ImageIndex`] records which
//! build-ids one image holds, so a second look at the same image (same image
//! id) reads nothing from the engine.
//!
//! Safety: nothing is unpacked at the path an entry names (see
//! [`layer`](self::layer)'s notes); a layer that inflates past
//! [`IndexOptions::max_layer_bytes`], or is not a valid tar or gzip stream, is
//! abandoned with a warning and the rest of the image is still used.
//!
//! ```no_run
//! use firebox_symbolizer::layers::{DebugCache, IndexOptions};
//!
//! let cache = DebugCache::open("/tmp/firebox-debug")?;
//! let archive = std::fs::File::open("image.tar").expect("docker save image > image.tar");
//! let index = cache.index_archive(Some("sha256:0123"), archive, "image.tar", &IndexOptions::default())?;
//! println!("{} debug files", index.objects.len());
//! # Ok::<(), firebox_symbolizer::Error>(())
//! ```
//!
//! # Limitations
//!
//! Files without a GNU build-id are not indexed: nothing could tell which
//! binary they belong to. zstd-compressed layers are skipped with a warning.

mod archive;
mod cache;
mod elf;
mod finder;
mod layer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use cache::DebugCache;
pub use finder::LayerFinder;

use crate::Error;
use archive::ArchiveScan;
use cache::hex;

/// The version of the index format; indexes of other versions are rebuilt.
pub(crate) const INDEX_VERSION: u32 = 1;

/// Limits on what reading one image may cost.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// A layer that inflates to more than this many bytes is abandoned.
    pub max_layer_bytes: u64,
    /// ELF files larger than this are not read (they are read whole into
    /// memory to be checked).
    pub max_file_bytes: u64,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { max_layer_bytes: 8 << 30, max_file_bytes: 2 << 30 }
    }
}

/// The debug-bearing ELF files one image holds, once its layers are
/// stacked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageIndex {
    /// The format version.
    pub version: u32,
    /// What the index is of: the image id, or the archive's path.
    pub key: String,
    /// The objects by build-id (lowercase hex).
    pub objects: BTreeMap<String, IndexedObject>,
    /// What went wrong with single layers, one line each.
    pub warnings: Vec<String>,
    /// Whether this index was read from the cache rather than built now.
    #[serde(skip)]
    pub reused: bool,
}

/// One debug-bearing ELF file of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedObject {
    /// Where the image holds it (relative to the image's root).
    pub paths: Vec<String>,
    /// It holds DWARF.
    pub dwarf: bool,
    /// It holds a `.symtab`.
    pub symtab: bool,
    /// It is a whole binary (its code is there), not only debug sections.
    pub code: bool,
}

impl ImageIndex {
    /// Whether the image holds a debug-bearing file with `build_id`.
    pub fn holds(&self, build_id: &[u8]) -> bool {
        self.objects.contains_key(&hex(build_id))
    }

    /// The cached file for `build_id`, when the image holds one.
    pub fn object(&self, cache: &DebugCache, build_id: &[u8]) -> Option<PathBuf> {
        self.objects.contains_key(&hex(build_id)).then(|| cache.object_path(build_id))
    }
}

impl DebugCache {
    /// Reads an image archive stream and indexes it. With a `key` (an image
    /// id) the index is stored for [`DebugCache::load_index`]; objects the
    /// image does not end up holding (whited out, in a broken layer) are
    /// not kept unless they were in the cache before.
    ///
    /// # Errors
    ///
    /// When the stream is not a tar at all, holds no manifest, or the cache
    /// cannot be written. A broken or oversized layer is only a warning.
    pub fn index_archive(
        &self,
        key: Option<&str>,
        reader: impl Read,
        what: &str,
        options: &IndexOptions,
    ) -> Result<ImageIndex, Error> {
        let scan = ArchiveScan::read(reader, what, self, options)?;
        self.finish_index(key.unwrap_or(what), key.is_some(), scan, what, options)
    }

    /// Indexes an OCI image layout unpacked in `dir`, or, when `path` is a
    /// file, the archive in it. Nothing is stored: such archives have no id
    /// to key an index by (the objects themselves still go to the cache).
    ///
    /// # Errors
    ///
    /// As [`DebugCache::index_archive`].
    pub fn index_local(&self, path: &Path, options: &IndexOptions) -> Result<ImageIndex, Error> {
        let what = path.display().to_string();
        let scan = if path.is_dir() {
            ArchiveScan::read_dir(path, self, options)?
        } else {
            let file = std::fs::File::open(path)
                .map_err(|source| Error::Archive { what: what.clone(), source })?;
            ArchiveScan::read(std::io::BufReader::new(file), &what, self, options)?
        };
        self.finish_index(&what, false, scan, &what, options)
    }

    fn finish_index(
        &self,
        key: &str,
        store: bool,
        mut scan: ArchiveScan,
        what: &str,
        options: &IndexOptions,
    ) -> Result<ImageIndex, Error> {
        let order = scan
            .layer_order()
            .map_err(|reason| Error::NotAnImage { what: what.to_string(), reason })?;

        let mut warnings = Vec::new();
        let mut stacked = Vec::new();
        // An index missing a layer is not kept: the next run tries again,
        // instead of trusting a read that failed (a full cache disk, say).
        let mut incomplete = false;
        for name in &order {
            match scan.layers.remove(name) {
                Some(Ok(layer)) => {
                    if layer.unsafe_paths > 0 {
                        warnings.push(format!(
                            "layer {name} of {what}: {} entries with `..` in their path were ignored",
                            layer.unsafe_paths
                        ));
                    }
                    if layer.oversized > 0 {
                        warnings.push(format!(
                            "layer {name} of {what}: {} ELF files larger than {} bytes were not read",
                            layer.oversized, options.max_file_bytes
                        ));
                    }
                    stacked.push(layer);
                }
                Some(Err(problem)) => {
                    incomplete = true;
                    warnings.push(format!("layer {name} of {what} was skipped: {problem}"));
                }
                None => {
                    incomplete = true;
                    warnings.push(format!("layer {name} of {what} is missing from the archive"))
                }
            }
        }
        for warning in &warnings {
            warn!("{warning}");
        }

        let view = layer::merge(&stacked);
        let mut objects: BTreeMap<String, IndexedObject> = BTreeMap::new();
        for (path, facts) in view {
            let object = objects.entry(hex(&facts.build_id)).or_insert_with(|| IndexedObject {
                paths: Vec::new(),
                dwarf: facts.dwarf,
                symtab: facts.symtab,
                code: facts.code,
            });
            object.paths.push(path);
        }

        // Keep only what the image holds: drop what this run stored for
        // layers that are not part of it or whose files were hidden above.
        let kept: HashSet<&String> = objects.keys().collect();
        let dropped = scan.layers.values().filter_map(|l| l.as_ref().ok());
        for build_id in stacked.iter().chain(dropped).flat_map(|l| &l.stored) {
            if !kept.contains(&hex(build_id)) {
                self.remove_object(build_id);
            }
        }

        let index = ImageIndex {
            version: INDEX_VERSION,
            key: key.to_string(),
            objects,
            warnings,
            reused: false,
        };
        if store && !incomplete {
            self.save_index(&index)
                .map_err(|source| Error::Cache { path: self.dir().join("images"), source })?;
        }
        info!(image = key, objects = index.objects.len(), "indexed image layers");
        Ok(index)
    }
}
