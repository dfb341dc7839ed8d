//! One image layer: a tar stream, plain or gzip, read entry by entry.
//!
//! Entry paths are only ever used as names in the index: nothing is unpacked
//! at the path an entry gives. The only files written are debug-bearing ELF
//! files, into the cache, under a name made from their own build-id. So an
//! entry with an absolute path, with `..`, or a link pointing anywhere cannot
//! make anything appear outside the cache.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Component, Path};
use std::rc::Rc;

use tar::EntryType;

use super::cache::DebugCache;
use super::elf::{self, ElfFacts};
use super::IndexOptions;

/// How much of a stream is looked at to tell gzip, zstd and tar apart.
const SNIFF_BYTES: usize = 512;

/// What one entry of a layer does to the image's filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A debug-bearing ELF file, now in the cache.
    Object(ElfFacts),
    /// Anything else that occupies the path (a file, a link), hiding what
    /// lower layers had there.
    Other,
    /// A whiteout: the path is removed from lower layers.
    Whiteout,
    /// An opaque directory: everything lower layers had under it is hidden.
    Opaque,
}

/// What reading a layer gave: its entries in order, by normalized path.
#[derive(Debug, Default)]
pub(crate) struct LayerScan {
    pub(crate) entries: Vec<(String, Entry)>,
    /// Build-ids this scan put into the cache (they were not there before).
    pub(crate) stored: Vec<Vec<u8>>,
    /// Entries left out because their path climbs with `..`.
    pub(crate) unsafe_paths: u64,
    /// ELF files left out because they are larger than the per-file cap.
    pub(crate) oversized: u64,
}

/// Why a layer was abandoned.
#[derive(Debug)]
pub(crate) enum Problem {
    /// It inflated past the cap.
    TooLarge(u64),
    /// Its compression is one firebox does not read.
    Unsupported(&'static str),
    /// The stream is not a valid (gzip) tar.
    Corrupt(io::Error),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::TooLarge(cap) => write!(f, "it inflates past {cap} bytes"),
            Problem::Unsupported(what) => write!(f, "{what} layers are not supported"),
            Problem::Corrupt(e) => write!(f, "it is not a valid tar or gzip stream ({e})"),
        }
    }
}

/// Reads the first bytes of `reader` and gives them back together with a
/// reader that yields the whole stream again.
pub(crate) fn peek<R: Read>(mut reader: R) -> io::Result<(Vec<u8>, impl Read)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut reader).take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    Ok((head.clone(), io::Cursor::new(head).chain(reader)))
}

/// Whether `head` starts a gzip stream.
pub(crate) fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

fn is_zstd(head: &[u8]) -> bool {
    head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Reads one layer stream, storing its debug-bearing ELF files in `cache`.
/// Whatever the scan stored is removed again when the layer is abandoned.
pub(crate) fn scan(
    reader: impl Read,
    cache: &DebugCache,
    options: &IndexOptions,
) -> Result<LayerScan, Problem> {
    let (head, stream) = peek(reader).map_err(Problem::Corrupt)?;
    if is_zstd(&head) {
        return Err(Problem::Unsupported("zstd"));
    }
    let over = Rc::new(Cell::new(false));
    let stream: Box<dyn Read> = if is_gzip(&head) {
        Box::new(flate2::read::MultiGzDecoder::new(stream))
    } else {
        Box::new(stream)
    };
    let capped = Capped { inner: stream, left: options.max_layer_bytes, over: Rc::clone(&over) };

    let mut scan = LayerScan::default();
    let result = read_entries(capped, cache, options, &mut scan);
    match result {
        Ok(()) => Ok(scan),
        Err(error) => {
            for build_id in &scan.stored {
                cache.remove_object(build_id);
            }
            if over.get() {
                Err(Problem::TooLarge(options.max_layer_bytes))
            } else {
                Err(Problem::Corrupt(error))
            }
        }
    }
}

fn read_entries(
    stream: impl Read,
    cache: &DebugCache,
    options: &IndexOptions,
    scan: &mut LayerScan,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(stream);
    // Objects of this layer by path, for hard links to them.
    let mut objects: HashMap<String, ElfFacts> = HashMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(path) = normalize(&entry.path()?) else {
            scan.unsafe_paths += 1;
            continue;
        };
        if let Some(marked) = whiteout(&path) {
            scan.entries.push(marked);
            continue;
        }
        let kind = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.size();
                match read_object(&mut entry, &path, size, options, scan)? {
                    Some(facts) => {
                        if !cache.has_object(&facts.build_id) {
                            cache.store_object(&facts.build_id, &facts.data)?;
                            scan.stored.push(facts.build_id.clone());
                        }
                        objects.insert(path.clone(), facts.facts.clone());
                        Entry::Object(facts.facts)
                    }
                    None => Entry::Other,
                }
            }
            EntryType::Link => {
                let target = entry.link_name()?.as_deref().and_then(normalize);
                match target.and_then(|t| objects.get(&t)) {
                    Some(facts) => Entry::Object(facts.clone()),
                    None => Entry::Other,
                }
            }
            EntryType::Directory => continue,
            _ => Entry::Other,
        };
        scan.entries.push((path, kind));
    }
    Ok(())
}

/// An ELF file read whole, with its facts.
struct ReadObject {
    build_id: Vec<u8>,
    facts: ElfFacts,
    data: Vec<u8>,
}

/// Reads a regular entry when it is an ELF file that carries debug info;
/// `None` for anything else (what is left unread the archive skips).
fn read_object(
    entry: &mut impl Read,
    path: &str,
    size: u64,
    options: &IndexOptions,
    scan: &mut LayerScan,
) -> io::Result<Option<ReadObject>> {
    let mut magic = [0u8; 4];
    if size < 64 || entry.read_exact(&mut magic).is_err() || !elf::is_elf(&magic) {
        return Ok(None);
    }
    if size > options.max_file_bytes {
        scan.oversized += 1;
        return Ok(None);
    }
    let mut data = Vec::with_capacity(size as usize);
    data.extend_from_slice(&magic);
    entry.read_to_end(&mut data)?;
    let Some(facts) = elf::facts(&data, path) else { return Ok(None) };
    if !facts.has_debug_info() {
        return Ok(None);
    }
    Ok(Some(ReadObject { build_id: facts.build_id.clone(), facts, data }))
}

/// The entry path as a relative path without `.` parts; `None` when it
/// climbs with `..`. A leading `/` is dropped: layers speak of the image's
/// root either way.
fn normalize(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The whiteout an entry stands for: `dir/.wh.name` removes `dir/name`,
/// `dir/.wh..wh..opq` makes `dir` opaque.
fn whiteout(path: &str) -> Option<(String, Entry)> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    };
    let hidden = name.strip_prefix(".wh.")?;
    if hidden == ".wh..opq" {
        return Some((dir.to_string(), Entry::Opaque));
    }
    let target = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
    Some((target, Entry::Whiteout))
}

/// The image's filesystem after stacking `layers`, lowest first: every path
/// that holds a debug-bearing object, with its facts.
pub(crate) fn merge<'a>(
    layers: impl IntoIterator<Item = &'a LayerScan>,
) -> BTreeMap<String, ElfFacts> {
    let mut view: BTreeMap<String, Option<ElfFacts>> = BTreeMap::new();
    for layer in layers {
        // A layer's whiteouts hide what the layers below it had, never its
        // own entries, wherever they stand in the stream.
        for (path, entry) in &layer.entries {
            match entry {
                Entry::Whiteout => {
                    view.remove(path);
                    remove_under(&mut view, path);
                }
                Entry::Opaque => remove_under(&mut view, path),
                Entry::Object(_) | Entry::Other => {}
            }
        }
        for (path, entry) in &layer.entries {
            match entry {
                Entry::Object(facts) => {
                    view.insert(path.clone(), Some(facts.clone()));
                }
                Entry::Other => {
                    view.insert(path.clone(), None);
                }
                Entry::Whiteout | Entry::Opaque => {}
            }
        }
    }
    view.into_iter().filter_map(|(path, facts)| Some((path, facts?))).collect()
}

/// Removes every path below directory `dir` (`""` is the root).
fn remove_under<V>(view: &mut BTreeMap<String, V>, dir: &str) {
    if dir.is_empty() {
        view.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let below: Vec<String> = view
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .map(|(p, _)| p.clone())
        .collect();
    for path in below {
        view.remove(&path);
    }
}

/// A reader that fails once more than `left` bytes came through, and says
/// so in `over`.
struct Capped<R> {
    inner: R,
    left: u64,
    over: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for one byte more than allowed, so a stream that ends exactly
        // at the cap still passes.
        let want =
            buf.len().min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.over.set(true);
            return Err(io::Error::other("the layer inflates past the cap"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: u8) -> ElfFacts {
        ElfFacts { build_id: vec![id; 20], dwarf: true, symtab: true, code: false }
    }

    fn layer(entries: &[(&str, Entry)]) -> LayerScan {
        LayerScan {
            entries: entries.iter().map(|(p, e)| (p.to_string(), e.clone())).collect(),
            ..LayerScan::default()
        }
    }

    /// Whiteouts remove a file or a whole directory of lower layers, opaque
    /// directories hide what lower layers had in them, and an upper file of
    /// any kind replaces a lower object.
    #[test]
    fn whiteouts_and_replacements_hide_lower_objects() {
        let lower = layer(&[
            ("usr/lib/debug/a.debug", Entry::Object(facts(1))),
            ("usr/lib/debug/b.debug", Entry::Object(facts(2))),
            ("opt/debug/c.debug", Entry::Object(facts(3))),
            ("srv/d.debug", Entry::Object(facts(4))),
            ("srv/sub/e.debug", Entry::Object(facts(5))),
            ("keep/f.debug", Entry::Object(facts(6))),
        ]);
        let upper = layer(&[
            ("usr/lib/debug/a.debug", Entry::Whiteout),
            ("opt/debug/g.debug", Entry::Object(facts(7))),
            ("opt/debug", Entry::Opaque),
            ("srv", Entry::Whiteout),
            ("usr/lib/debug/b.debug", Entry::Other),
        ]);
        let view = merge([&lower, &upper]);
        let ids: Vec<(&str, u8)> = view.iter().map(|(p, f)| (p.as_str(), f.build_id[0])).collect();
        assert_eq!(ids, [("keep/f.debug", 6), ("opt/debug/g.debug", 7)]);
    }

    /// Whiteout names map to the path they hide; other names are no
    /// whiteouts.
    #[test]
    fn whiteout_names() {
        assert_eq!(whiteout("usr/.wh.bin"), Some(("usr/bin".to_string(), Entry::Whiteout)));
        assert_eq!(whiteout(".wh.etc"), Some(("etc".to_string(), Entry::Whiteout)));
        assert_eq!(whiteout("opt/.wh..wh..opq"), Some(("opt".to_string(), Entry::Opaque)));
        assert_eq!(whiteout("usr/bin/wh.x"), None);
    }

    /// Paths lose `./` and a leading `/`; a `..` anywhere rejects them.
    #[test]
    fn entry_paths_normalize() {
        assert_eq!(normalize(Path::new("./usr/lib/x")), Some("usr/lib/x".to_string()));
        assert_eq!(normalize(Path::new("/etc/passwd")), Some("etc/passwd".to_string()));
        assert_eq!(normalize(Path::new("usr/../../etc")), None);
        assert_eq!(normalize(Path::new("./")), None);
    }

    /// The cap lets a stream of exactly the cap through and stops one byte
    /// more.
    #[test]
    fn cap_is_exact() {
        let read_all = |len: usize, cap: u64| {
            let over = Rc::new(Cell::new(false));
            let mut capped = Capped {
                inner: io::Cursor::new(vec![0u8; len]),
                left: cap,
                over: Rc::clone(&over),
            };
            let result = io::copy(&mut capped, &mut io::sink());
            (result.is_ok(), over.get())
        };
        assert_eq!(read_all(100, 100), (true, false));
        assert_eq!(read_all(101, 100), (false, true));
    }
}
