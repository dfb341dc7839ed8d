//! `firebox record --container/--label`: which containers to sample, and the
//! image layers and debug images that give their binaries names.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use firebox_collectors::containers::{Container, Docker};
use firebox_collectors::perf::{Cgroup, Target};
use firebox_symbolizer::layers::{DebugCache, ImageIndex, IndexOptions, LayerFinder};
use firebox_symbolizer::{DebugInfoFinder, SymbolizerConfig};

/// Where debug files for container binaries may come from.
#[derive(Args, Debug, Default)]
pub struct DebugArgs {
    /// An image that carries debug files for the profiled binaries (by
    /// build-id, anywhere in its layers); repeatable.
    #[arg(long = "debug-image", value_name = "IMAGE", value_parser = parse_image)]
    pub debug_images: Vec<String>,
    /// An image archive on disk (`docker save` output, or an OCI layout as
    /// a tar or a directory) that carries debug files; repeatable.
    #[arg(long = "debug-archive", value_name = "PATH")]
    pub debug_archives: Vec<PathBuf>,
    /// A directory of debug files (a `.build-id/xx/rest.debug` tree, or
    /// files named after the debuglink or the build-id); repeatable.
    #[arg(long = "debug-dir", value_name = "DIR", value_parser = parse_debug_dir)]
    pub debug_dirs: Vec<PathBuf>,
    /// Abandon an image layer that inflates past this size (e.g. 512M, 8G).
    #[arg(long, value_name = "SIZE", default_value = "8G", value_parser = parse_size)]
    pub max_layer_size: u64,
    /// Do not read the containers' own image layers for debug files.
    #[arg(long)]
    pub no_image_layers: bool,
}

/// An image (or archive) whose debug files were indexed, and how.
#[derive(Debug)]
pub struct IndexedImage {
    /// What it is to the recording: `container-image`, `debug-image` or
    /// `debug-archive`.
    pub role: &'static str,
    /// The image as the user or the container named it.
    pub name: String,
    /// The index.
    pub index: ImageIndex,
    /// The cache that holds its debug files.
    pub cache: DebugCache,
}

/// The containers `names` and `labels` select, each once, in the order
/// given.
pub fn select(
    docker: &Docker,
    names: &[String],
    labels: &[String],
) -> anyhow::Result<Vec<Container>> {
    let mut out: Vec<Container> = Vec::new();
    for name in names {
        out.push(docker.container(name)?);
    }
    for label in labels {
        out.extend(docker.containers_with_label(label)?);
    }
    let mut seen = BTreeSet::new();
    out.retain(|c| seen.insert(c.id.clone()));
    Ok(out)
}

/// The sampler target for `containers`: their cgroups, named after them.
pub fn target(containers: &[Container]) -> Target {
    Target::Cgroups(
        containers.iter().map(|c| Cgroup { name: c.name.clone(), dir: c.cgroup.clone() }).collect(),
    )
}

/// What the recording is of, for titles and messages.
pub fn label(containers: &[Container]) -> String {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    match names.as_slice() {
        [one] => format!("container {one}"),
        many => format!("containers {}", many.join(", ")),
    }
}

/// Indexes the debug files of the containers' images, the debug images and
/// the debug archives, exporting an image only when the cache holds no
/// index of its id yet.
pub fn index_images(
    docker: Option<&Docker>,
    containers: &[Container],
    args: &DebugArgs,
) -> anyhow::Result<Vec<IndexedImage>> {
    let wanted = !args.no_image_layers && !containers.is_empty()
        || !args.debug_images.is_empty()
        || !args.debug_archives.is_empty();
    if !wanted {
        return Ok(Vec::new());
    }
    let dir = DebugCache::default_dir()
        .context("cannot tell where the debug cache goes: set XDG_CACHE_HOME or HOME")?;
    let cache = DebugCache::open(dir)?;
    let options = IndexOptions { max_layer_bytes: args.max_layer_size, ..IndexOptions::default() };

    let mut out = Vec::new();
    let mut images: Vec<(&'static str, String, String)> = Vec::new();
    if !args.no_image_layers {
        for c in containers {
            if !images.iter().any(|(_, _, id)| *id == c.image_id) {
                images.push(("container-image", c.image.clone(), c.image_id.clone()));
            }
        }
    }
    if let Some(docker) = docker {
        for name in &args.debug_images {
            images.push(("debug-image", name.clone(), docker.image_id(name)?));
        }
    }
    for (role, name, id) in images {
        let index = match cache.load_index(&id) {
            Some(index) => index,
            None => {
                let docker = docker.context("exporting an image needs the Docker daemon")?;
                super::note!(
                    "firebox: reading the layers of image {name} for debug files (once per image)"
                );
                let export = std::io::BufReader::with_capacity(1 << 20, docker.export_image(&id));
                cache.index_archive(Some(&id), export, &format!("image {name}"), &options)?
            }
        };
        out.push(IndexedImage { role, name, index, cache: cache.clone() });
    }
    for path in &args.debug_archives {
        let index = cache.index_local(path, &options)?;
        let name = path.display().to_string();
        out.push(IndexedImage { role: "debug-archive", name, index, cache: cache.clone() });
    }
    Ok(out)
}

/// An image reference (`name[:tag]`, `name@digest` or an id), not empty and
/// without spaces, before the daemon is asked about it.
fn parse_image(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("an image needs a name or an id (`docker images` lists them)".to_string());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{text:?} is no image reference: it holds spaces"));
    }
    Ok(text.to_string())
}

/// A `--debug-dir` that is a directory: a mistyped one would otherwise be
/// searched in vain without a word.
fn parse_debug_dir(text: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(text);
    if dir.is_dir() {
        Ok(dir)
    } else if dir.exists() {
        Err(format!("{text} is not a directory"))
    } else {
        Err(format!("{text} does not exist"))
    }
}

/// The symbolizer settings for a recording: the images' finders, in order,
/// and the debug directories.
pub fn symbolizer_config(images: &[IndexedImage], debug_dirs: &[PathBuf]) -> SymbolizerConfig {
    let finders = images
        .iter()
        .map(|i| {
            Box::new(LayerFinder::new(i.cache.clone(), i.index.clone())) as Box<dyn DebugInfoFinder>
        })
        .collect();
    SymbolizerConfig { finders, debug_dirs: debug_dirs.to_vec(), ..SymbolizerConfig::default() }
}

/// Sizes like `512`, `64K`, `512M`, `8G` (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 10),
        Some((i, 'm' | 'M')) => (&text[..i], 20),
        Some((i, 'g' | 'G')) => (&text[..i], 30),
        Some((i, 't' | 'T')) => (&text[..i], 40),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size like 512M or 8G"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{text} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    /// Sizes take binary suffixes, and junk is refused.
    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("8g"), Ok(8 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
