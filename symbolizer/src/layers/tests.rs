//! Image archives made by hand with real debug files (built with `cc` and
//! `objcopy`): what gets indexed, what whiteouts hide, what the cache keeps,
//! and how hostile layers are handled.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;

use super::*;

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("firebox-layers-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A debug file made from a tiny C program, and its build-id.
fn debug_file(dir: &Path, name: &str, function: &str) -> (Vec<u8>, Vec<u8>) {
    let source = dir.join(format!("{name}.c"));
    std::fs::write(&source, format!("int {function}(int x) {{ return x * 3; }}\nint main(void) {{ return {function}(1); }}\n"))
        .unwrap();
    let binary = dir.join(name);
    let status = Command::new("cc")
        .args(["-g", "-O1", "-Wl,--build-id"])
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .status()
        .expect("`cc` is needed to build test binaries");
    assert!(status.success());
    let debug = dir.join(format!("{name}.debug"));
    let status = Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&binary)
        .arg(&debug)
        .status()
        .expect("`objcopy` (binutils) is needed to make debug files");
    assert!(status.success());
    let data = std::fs::read(&debug).unwrap();
    let build_id = elf::facts(&data, "test").expect("the debug file has a build-id").build_id;
    (data, build_id)
}

fn build_id_path(build_id: &[u8]) -> String {
    let hex = hex(build_id);
    format!("usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..])
}

/// A tar entry's raw description, so that names the `tar` crate refuses to
/// write (`..`, absolute) can be made too.
enum Item<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn tar_of(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        let (name, data, kind, link): (&str, &[u8], _, Option<&str>) = match item {
            Item::File(name, data) => (name, data, tar::EntryType::Regular, None),
            Item::Symlink(name, target) => (name, b"", tar::EntryType::Symlink, Some(target)),
        };
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(target) = link {
            let raw = &mut header.as_old_mut().linkname;
            raw[..target.len()].copy_from_slice(target.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A `docker save` archive of `layers` (name, bytes), lowest first.
fn docker_save(layers: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let names: Vec<String> = layers.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let manifest =
        format!(r#"[{{"Config":"c.json","RepoTags":null,"Layers":[{}]}}]"#, names.join(","));
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    for (name, data) in layers {
        add(name, data);
    }
    add("c.json", b"{}");
    add("manifest.json", manifest.as_bytes());
    builder.into_inner().unwrap()
}

fn small_options() -> IndexOptions {
    IndexOptions { max_layer_bytes: 8 << 20, max_file_bytes: 4 << 20 }
}

/// A debug file in a lower layer is indexed under its build-id, the cached
/// copy is the very file, and the stored index is reused by key.
#[test]
fn debug_file_in_a_layer_is_cached_and_the_index_reused() {
    let dir = Scratch::new("basic");
    let (data, build_id) = debug_file(&dir.0, "app", "parse_header");
    let layer1 = tar_of(&[Item::File(&build_id_path(&build_id), &data)]);
    let layer2 = gzip(&tar_of(&[Item::File("etc/motd", b"hello")]));
    let archive = docker_save(&[("l1/layer.tar", layer1), ("l2/layer.tar", layer2)]);

    let cache = DebugCache::open(dir.0.join("cache")).unwrap();
    let index =
        cache.index_archive(Some("sha256:feed"), &archive[..], "test", &small_options()).unwrap();
    assert!(index.warnings.is_empty(), "{:?}", index.warnings);
    let object = &index.objects[&hex(&build_id)];
    assert_eq!(object.paths, [build_id_path(&build_id)]);
    assert!(object.dwarf && !object.code, "{object:?}");
    let cached = index.object(&cache, &build_id).unwrap();
    assert_eq!(std::fs::read(&cached).unwrap(), data);

    let again = cache.load_index("sha256:feed").expect("the index is stored by image id");
    assert!(again.reused);
    assert_eq!(again.objects, index.objects);
    std::fs::remove_file(&cached).unwrap();
    assert!(cache.load_index("sha256:feed").is_none(), "an index missing an object is rebuilt");
}

/// A debug file deleted by a whiteout in an upper layer, or hidden by an
/// opaque directory, is not indexed and not left in the cache; one added
/// above the opaque marker is.
#[test]
fn whiteouts_hide_debug_files() {
    let dir = Scratch::new("whiteout");
    let (a, id_a) = debug_file(&dir.0, "a", "alpha");
    let (b, id_b) = debug_file(&dir.0, "b", "beta");
    let (c, id_c) = debug_file(&dir.0, "c", "third");
    let layer1 =
        tar_of(&[Item::File("usr/lib/debug/a.debug", &a), Item::File("opt/dbg/b.debug", &b)]);
    let layer2 = gzip(&tar_of(&[
        Item::File("usr/lib/debug/.wh.a.debug", b""),
        Item::File("opt/dbg/c.debug", &c),
        Item::File("opt/dbg/.wh..wh..opq", b""),
    ]));
    let archive = docker_save(&[("l1/layer.tar", layer1), ("l2/layer.tar", layer2)]);

    let cache = DebugCache::open(dir.0.join("cache")).unwrap();
    let index = cache.index_archive(None, &archive[..], "test", &small_options()).unwrap();
    let ids: Vec<&String> = index.objects.keys().collect();
    assert_eq!(ids, [&hex(&id_c)]);
    assert!(!cache.has_object(&id_a) && !cache.has_object(&id_b), "hidden objects are not kept");
    assert!(cache.has_object(&id_c));
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(here) = pending.pop() {
        for entry in std::fs::read_dir(&here).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Entries with `..`, absolute paths and symlinks pointing out, a gzip
/// bomb past the cap and a corrupt gzip layer: nothing lands outside the
/// cache, each bad layer is a warning, and the good layer still counts.
#[test]
fn hostile_layers_stay_inside_the_cache() {
    let dir = Scratch::new("hostile");
    let (good, id_good) = debug_file(&dir.0, "good", "kept");
    let (evil, id_evil) = debug_file(&dir.0, "evil", "climber");
    std::fs::create_dir_all(dir.0.join("work/inner")).unwrap();
    let before = files_under(&dir.0);

    let escape = tar_of(&[
        Item::File("../../escaped.debug", &evil),
        Item::File("/tmp/firebox-absolute-entry", b"absolute"),
        Item::Symlink("out", "/etc"),
        Item::File("out/firebox-through-link", b"through a link"),
        Item::Symlink("usr/lib/debug/up", "../../../../.."),
    ]);
    let bomb = gzip(&tar_of(&[Item::File("zeros", &vec![0u8; 32 << 20])]));
    assert!(bomb.len() < 1 << 20, "the bomb is small compressed");
    let mut corrupt = gzip(&tar_of(&[Item::File("x", &good)]));
    let middle = corrupt.len() / 2;
    corrupt.truncate(middle);
    corrupt.extend_from_slice(&[0x55; 300]);
    let fine = tar_of(&[Item::File(&build_id_path(&id_good), &good)]);
    let archive = docker_save(&[
        ("escape/layer.tar", escape),
        ("bomb/layer.tar", bomb),
        ("corrupt/layer.tar", corrupt),
        ("fine/layer.tar", fine),
    ]);

    let cache_dir = dir.0.join("work/inner/cache");
    let cache = DebugCache::open(&cache_dir).unwrap();
    let index = cache.index_archive(None, &archive[..], "hostile", &small_options()).unwrap();

    let text = index.warnings.join("\n");
    assert!(text.contains("layer escape/layer.tar of hostile: 1 entries with `..`"), "{text}");
    assert!(
        text.contains(
            "layer bomb/layer.tar of hostile was skipped: it inflates past 8388608 bytes"
        ),
        "{text}"
    );
    assert!(
        text.contains("layer corrupt/layer.tar of hostile was skipped: it is not a valid tar"),
        "{text}"
    );
    assert!(index.objects.contains_key(&hex(&id_good)), "the good layer still counts");
    assert!(!index.objects.contains_key(&hex(&id_evil)), "an entry with `..` is not indexed");

    let mut after = files_under(&dir.0);
    after.retain(|f| !f.starts_with("work/inner/cache/"));
    assert_eq!(after, before, "nothing was written outside the cache");
    let cached = files_under(&cache_dir);
    let hex_good = hex(&id_good);
    assert_eq!(cached, [format!(".build-id/{}/{}.debug", &hex_good[..2], &hex_good[2..])]);
    assert!(!Path::new("/tmp/firebox-absolute-entry").exists());
    assert!(!Path::new("/etc/firebox-through-link").exists());
}

/// An OCI layout unpacked in a directory, with a gzip layer, is indexed.
#[test]
fn oci_layout_directory() {
    let dir = Scratch::new("oci");
    let (data, build_id) = debug_file(&dir.0, "oci", "in_oci");
    let layout = dir.0.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let layer = gzip(&tar_of(&[Item::File("usr/lib/debug/oci.debug", &data)]));
    std::fs::write(layout.join("blobs/sha256/layer1"), layer).unwrap();
    std::fs::write(
        layout.join("blobs/sha256/manifest1"),
        r#"{"schemaVersion":2,"config":{"digest":"sha256:cfg"},"layers":[{"digest":"sha256:layer1"}]}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:manifest1"}]}"#,
    )
    .unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();

    let cache = DebugCache::open(dir.0.join("cache")).unwrap();
    let index = cache.index_local(&layout, &small_options()).unwrap();
    assert_eq!(index.objects[&hex(&build_id)].paths, ["usr/lib/debug/oci.debug"]);
}

/// An index that had to skip a layer is not stored: the next run reads the
/// image again instead of trusting a read that failed.
#[test]
fn an_index_missing_a_layer_is_not_stored() {
    let dir = Scratch::new("incomplete");
    let (data, build_id) = debug_file(&dir.0, "app", "parse_header");
    let good = tar_of(&[Item::File(&build_id_path(&build_id), &data)]);
    let mut corrupt = gzip(&tar_of(&[Item::File("x", &data)]));
    corrupt.truncate(corrupt.len() / 2);
    let archive = docker_save(&[("l1/layer.tar", good), ("l2/layer.tar", corrupt)]);

    let cache = DebugCache::open(dir.0.join("cache")).unwrap();
    let index =
        cache.index_archive(Some("sha256:half"), &archive[..], "test", &small_options()).unwrap();
    assert!(index.objects.contains_key(&hex(&build_id)), "the good layer is still used");
    assert!(cache.load_index("sha256:half").is_none(), "no stored index for a partial read");
}

/// Layers named `<digest>.tar` or `.tar.gz` in the manifest, as podman and
/// crane write them, are read like docker save's `<id>/layer.tar`.
#[test]
fn layers_named_by_digest_are_read() {
    let dir = Scratch::new("digest-names");
    let (data, build_id) = debug_file(&dir.0, "app", "parse_header");
    let layer = gzip(&tar_of(&[Item::File(&build_id_path(&build_id), &data)]));
    let archive = docker_save(&[("0123abcd.tar.gz", layer)]);
    let cache = DebugCache::open(dir.0.join("cache")).unwrap();
    let index = cache.index_archive(None, &archive[..], "test", &small_options()).unwrap();
    assert!(index.warnings.is_empty(), "{:?}", index.warnings);
    assert!(index.objects.contains_key(&hex(&build_id)));
}
