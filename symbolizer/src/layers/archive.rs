//! An image archive as `docker save` writes it, or an OCI image layout (as a
//! tar or a directory): which blobs are layers, and in which order they
//! stack.
//!
//! The archive is read once, front to back, because the Docker API streams
//! it: the manifest may come after the layers, so every blob that looks like
//! a layer is scanned as it passes, and the manifest picks the ones that
//! count at the end.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::cache::DebugCache;
use super::layer::{self, LayerScan, Problem};
use super::IndexOptions;
use crate::Error;

/// JSON documents larger than this are not manifests.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// How deep OCI indexes may nest.
const MAX_INDEX_DEPTH: usize = 4;

/// Everything read from one archive.
#[derive(Debug, Default)]
pub(crate) struct ArchiveScan {
    /// Each blob scanned as a layer, by its name in the archive.
    pub(crate) layers: HashMap<String, Result<LayerScan, Problem>>,
    /// Small JSON documents (manifests, indexes, configs), by name.
    json: HashMap<String, Vec<u8>>,
}

impl ArchiveScan {
    /// Reads an archive stream (tar, or gzip-compressed tar).
    pub(crate) fn read(
        reader: impl Read,
        what: &str,
        cache: &DebugCache,
        options: &IndexOptions,
    ) -> Result<Self, Error> {
        let bad = |source| Error::Archive { what: what.to_string(), source };
        let (head, stream) = layer::peek(reader).map_err(bad)?;
        let stream: Box<dyn Read> = if layer::is_gzip(&head) {
            Box::new(flate2::read::MultiGzDecoder::new(stream))
        } else {
            Box::new(stream)
        };
        let mut archive = tar::Archive::new(stream);
        let mut scan = ArchiveScan::default();
        for entry in archive.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name =
                entry.path().map_err(bad)?.to_string_lossy().trim_start_matches("./").to_string();
            let size = entry.size();
            scan.add(name, size, entry, cache, options).map_err(bad)?;
        }
        Ok(scan)
    }

    /// Reads an OCI image layout unpacked in directory `dir`.
    pub(crate) fn read_dir(
        dir: &Path,
        cache: &DebugCache,
        options: &IndexOptions,
    ) -> Result<Self, Error> {
        let bad = |source| Error::Archive { what: dir.display().to_string(), source };
        let mut scan = ArchiveScan::default();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(here) = pending.pop() {
            for entry in std::fs::read_dir(&here).map_err(bad)? {
                let entry = entry.map_err(bad)?;
                let kind = entry.file_type().map_err(bad)?;
                let path = entry.path();
                if kind.is_dir() {
                    pending.push(path);
                } else if kind.is_file() {
                    let Ok(relative) = path.strip_prefix(dir) else { continue };
                    let name = relative.to_string_lossy().into_owned();
                    let file = std::fs::File::open(&path).map_err(bad)?;
                    let size = file.metadata().map_err(bad)?.len();
                    scan.add(name, size, file, cache, options).map_err(bad)?;
                }
            }
        }
        Ok(scan)
    }

    /// Keeps a JSON document or scans a layer; anything else is skipped.
    fn add(
        &mut self,
        name: String,
        size: u64,
        reader: impl Read,
        cache: &DebugCache,
        options: &IndexOptions,
    ) -> std::io::Result<()> {
        let (head, mut stream) = layer::peek(reader)?;
        let first = head.iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{' | b'[')) && size <= MAX_JSON_BYTES {
            let mut text = Vec::new();
            stream.read_to_end(&mut text)?;
            self.json.insert(name, text);
            return Ok(());
        }
        // docker save names layers `<id>/layer.tar`, OCI layouts
        // `blobs/sha256/<digest>`, other tools (podman, crane) `<digest>.tar`
        // or `.tar.gz`; the manifest, read at the end, says which count.
        let tar_like = [".tar", ".tar.gz", ".tgz"].iter().any(|ext| name.ends_with(ext));
        if tar_like || name.starts_with("blobs/") {
            self.layers.insert(name, layer::scan(stream, cache, options));
        }
        Ok(())
    }

    /// The layer blob names, lowest layer first, from `manifest.json`
    /// (`docker save`) or else from `index.json` (OCI).
    pub(crate) fn layer_order(&self) -> Result<Vec<String>, String> {
        if let Some(text) = self.json.get("manifest.json") {
            let manifests: Vec<SaveManifest> = serde_json::from_slice(text)
                .map_err(|e| format!("manifest.json does not parse: {e}"))?;
            let first = manifests.into_iter().next().ok_or("manifest.json lists no image")?;
            return Ok(first.layers);
        }
        let Some(text) = self.json.get("index.json") else {
            return Err("it holds neither manifest.json (docker save) nor index.json (OCI)".into());
        };
        self.oci_layers(text, 0)
    }

    fn oci_layers(&self, text: &[u8], depth: usize) -> Result<Vec<String>, String> {
        let doc: OciDocument = serde_json::from_slice(text)
            .map_err(|e| format!("an OCI index does not parse: {e}"))?;
        if let Some(layers) = doc.layers {
            return Ok(layers.iter().map(|d| blob_name(&d.digest)).collect());
        }
        if depth >= MAX_INDEX_DEPTH {
            return Err("OCI indexes nest too deep".into());
        }
        let manifests = doc.manifests.unwrap_or_default();
        // Prefer the manifest for this machine's platform; else the first.
        let chosen = manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(Platform::is_host))
            .or(manifests.first())
            .ok_or("the OCI index lists no manifest")?;
        let name = blob_name(&chosen.digest);
        let blob =
            self.json.get(&name).ok_or_else(|| format!("the manifest blob {name} is missing"))?;
        self.oci_layers(blob, depth + 1)
    }
}

/// `sha256:abcd` to `blobs/sha256/abcd`.
fn blob_name(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("blobs/{algorithm}/{hex}"),
        None => format!("blobs/{digest}"),
    }
}

/// One image of `docker save`'s `manifest.json`.
#[derive(Deserialize)]
struct SaveManifest {
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// An OCI index (with `manifests`) or image manifest (with `layers`).
#[derive(Deserialize)]
struct OciDocument {
    manifests: Option<Vec<Descriptor>>,
    layers: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

impl Platform {
    fn is_host(&self) -> bool {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        self.os == std::env::consts::OS && self.architecture == arch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_with(json: &[(&str, &str)]) -> ArchiveScan {
        ArchiveScan {
            layers: HashMap::new(),
            json: json.iter().map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())).collect(),
        }
    }

    /// `docker save`'s manifest lists layer paths in stacking order.
    #[test]
    fn docker_save_order() {
        let scan = scan_with(&[(
            "manifest.json",
            r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["a/layer.tar","b/layer.tar"]}]"#,
        )]);
        assert_eq!(scan.layer_order().unwrap(), ["a/layer.tar", "b/layer.tar"]);
    }

    /// An OCI index leads through a nested index to the manifest of this
    /// platform and its layer digests.
    #[test]
    fn oci_order_through_nested_index() {
        let scan = scan_with(&[
            ("index.json", r#"{"manifests":[{"digest":"sha256:i1"}]}"#),
            (
                "blobs/sha256/i1",
                r#"{"manifests":[
                    {"digest":"sha256:other","platform":{"architecture":"s390x","os":"linux"}},
                    {"digest":"sha256:m1","platform":{"architecture":"amd64","os":"linux"}},
                    {"digest":"sha256:m2","platform":{"architecture":"arm64","os":"linux"}}]}"#,
            ),
            ("blobs/sha256/m1", r#"{"layers":[{"digest":"sha256:l1"},{"digest":"sha256:l2"}]}"#),
            ("blobs/sha256/m2", r#"{"layers":[{"digest":"sha256:l3"}]}"#),
        ]);
        let expected = match std::env::consts::ARCH {
            "aarch64" => vec!["blobs/sha256/l3"],
            _ => vec!["blobs/sha256/l1", "blobs/sha256/l2"],
        };
        assert_eq!(scan.layer_order().unwrap(), expected);
    }

    /// An archive with no manifest says what it lacks.
    #[test]
    fn no_manifest_is_explained() {
        let err = scan_with(&[]).layer_order().unwrap_err();
        assert!(err.contains("manifest.json"), "{err}");
    }
}
