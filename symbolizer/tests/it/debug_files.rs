//! Stripped binaries: debug files by build-id, by `.gnu_debuglink`, in extra
//! directories and from finders, and candidates with a wrong build-id
//! rejected (CASES C28).

use std::path::{Path, PathBuf};

use firebox_model::FrameKind;
use firebox_symbolizer::{
    DebugRequest, ProcessView, Source, Symbolized, Symbolizer, SymbolizerConfig,
};

use crate::support::{build_id, build_id_path, compile_c, run, Scratch, Workload};

/// A stripped build of the C workload, its debug file, and the debug file of
/// a build that differs in one name (so its build-id differs).
struct Stripped {
    scratch: Scratch,
    app: PathBuf,
    debug: PathBuf,
    other_debug: PathBuf,
}

impl Stripped {
    fn build(name: &str) -> Self {
        let scratch = Scratch::new(name);
        let app = scratch.path("app");
        let debug = scratch.path("app.debug");
        compile_c("workload.c", &app, &["-O2", "-g", "-Wl,--build-id"]);
        run("objcopy", &["--only-keep-debug".as_ref(), app.as_os_str(), debug.as_os_str()]);
        run("strip", &["--strip-all".as_ref(), app.as_os_str()]);
        let link = format!("--add-gnu-debuglink={}", debug.display());
        run("objcopy", &[link.as_ref(), app.as_os_str()]);

        let other = scratch.path("other");
        let other_debug = scratch.path("other.debug");
        compile_c("workload.c", &other, &["-O2", "-g", "-Wl,--build-id", "-DWORK_NAME=beta_work"]);
        run("objcopy", &["--only-keep-debug".as_ref(), other.as_os_str(), other_debug.as_os_str()]);
        Stripped { scratch, app, debug, other_debug }
    }

    /// A directory to act as the process's root.
    fn root(&self) -> PathBuf {
        let root = self.scratch.path("root");
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    /// The static function's frames in a fresh symbolizer with `config`,
    /// the process seen through `root`.
    fn parse_header(
        &self,
        workload: &Workload,
        root: &Path,
        config: SymbolizerConfig,
    ) -> Symbolized {
        let addr = workload.addr("parse_header");
        let process = ProcessView { pid: workload.pid(), root: root.to_path_buf() };
        Symbolizer::with_config(config).user(&process, &workload.mapping_of(addr), addr)
    }

    /// What a frame no debug file named looks like.
    fn unresolved(&self, workload: &Workload) -> Symbolized {
        let addr = workload.addr("parse_header");
        let mapping = workload.mapping_of(addr);
        Symbolized::unresolved_in("app", mapping.file_offset_of(addr))
    }
}

fn place(file: &Path, at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::copy(file, at).unwrap();
}

/// The static function of a stripped binary is named from the debug file in
/// the root's build-id tree.
#[test]
fn stripped_binary_uses_the_build_id_tree_in_the_root() {
    let stripped = Stripped::build("debug-build-id");
    let workload = Workload::start(&stripped.app);
    let root = stripped.root();

    // Without a debug file in the root the static function has no name,
    // though the right debug file lies next to the binary on the host.
    let bare = stripped.parse_header(&workload, &root, SymbolizerConfig::default());
    assert_eq!(bare, stripped.unresolved(&workload));

    let id = build_id(&stripped.app);
    place(&stripped.debug, &build_id_path(&root.join("usr/lib/debug"), &id));
    let found = stripped.parse_header(&workload, &root, SymbolizerConfig::default());
    assert_eq!(found.frames[0].name, "parse_header");
    assert_eq!(found.frames[0].kind, FrameKind::Native);
    assert_eq!(found.source, Source::DebugFile);

    // The debug file's DWARF also gives the inlined functions.
    let addr = workload.addr("inline_call");
    let process = ProcessView { pid: workload.pid(), root: root.clone() };
    let site = Symbolizer::new().user(&process, &workload.mapping_of(addr), addr);
    let names: Vec<_> = site.frames.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(
        names,
        [
            ("outer_fn", FrameKind::Native),
            ("mid_inline", FrameKind::Inlined),
            ("leaf_inline", FrameKind::Inlined)
        ]
    );
    assert_eq!(site.source, Source::DebugFile);
}

/// A debug file whose build-id differs is rejected even where the build-id
/// tree says it belongs; the address stays module+offset.
#[test]
fn debug_file_with_another_build_id_is_rejected() {
    let stripped = Stripped::build("debug-wrong-id");
    let workload = Workload::start(&stripped.app);
    let root = stripped.root();
    let id = build_id(&stripped.app);
    place(&stripped.other_debug, &build_id_path(&root.join("usr/lib/debug"), &id));
    let dir = stripped.app.parent().unwrap();
    place(
        &stripped.other_debug,
        &root.join(dir.strip_prefix("/").unwrap()).join(".debug/app.debug"),
    );

    let found = stripped.parse_header(&workload, &root, SymbolizerConfig::default());
    assert_eq!(found, stripped.unresolved(&workload));
}

/// The `.gnu_debuglink` name is looked for in the binary's `.debug/`
/// directory inside the root.
#[test]
fn debuglink_in_the_dot_debug_directory() {
    let stripped = Stripped::build("debug-link");
    let workload = Workload::start(&stripped.app);
    let root = stripped.root();
    let dir = stripped.app.parent().unwrap();
    place(&stripped.debug, &root.join(dir.strip_prefix("/").unwrap()).join(".debug/app.debug"));

    let found = stripped.parse_header(&workload, &root, SymbolizerConfig::default());
    assert_eq!((found.frames[0].name.as_str(), found.source), ("parse_header", Source::DebugFile));
}

/// Extra debug directories work in the build-id layout and flat.
#[test]
fn extra_debug_directories() {
    let stripped = Stripped::build("debug-dirs");
    let workload = Workload::start(&stripped.app);
    let root = stripped.root();
    let id = build_id(&stripped.app);

    let tree = stripped.scratch.path("tree");
    place(&stripped.debug, &build_id_path(&tree, &id));
    let config = SymbolizerConfig { debug_dirs: vec![tree], ..SymbolizerConfig::default() };
    let found = stripped.parse_header(&workload, &root, config);
    assert_eq!((found.frames[0].name.as_str(), found.source), ("parse_header", Source::DebugFile));

    let flat = stripped.scratch.path("flat");
    place(&stripped.debug, &flat.join("app.debug"));
    let config = SymbolizerConfig { debug_dirs: vec![flat], ..SymbolizerConfig::default() };
    let found = stripped.parse_header(&workload, &root, config);
    assert_eq!((found.frames[0].name.as_str(), found.source), ("parse_header", Source::DebugFile));
}

/// A finder is asked with the binary's build-id; what it returns is checked
/// like any other candidate.
#[test]
fn finders_are_asked_by_build_id_and_checked() {
    let stripped = Stripped::build("debug-finder");
    let workload = Workload::start(&stripped.app);
    let root = stripped.root();
    let id = build_id(&stripped.app);

    let (debug, want) = (stripped.debug.clone(), id.clone());
    let finder =
        move |request: &DebugRequest<'_>| (request.build_id == want).then(|| debug.clone());
    let config =
        SymbolizerConfig { finders: vec![Box::new(finder)], ..SymbolizerConfig::default() };
    let found = stripped.parse_header(&workload, &root, config);
    assert_eq!((found.frames[0].name.as_str(), found.source), ("parse_header", Source::DebugFile));

    let wrong = stripped.other_debug.clone();
    let finder = move |_: &DebugRequest<'_>| Some(wrong.clone());
    let config =
        SymbolizerConfig { finders: vec![Box::new(finder)], ..SymbolizerConfig::default() };
    let found = stripped.parse_header(&workload, &root, config);
    assert_eq!(found, stripped.unresolved(&workload));
}

/// With no debug file anywhere, an exported function of a stripped binary is
/// still named from `.dynsym`.
#[test]
fn stripped_binary_falls_back_to_dynsym() {
    let scratch = Scratch::new("debug-dynsym");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g", "-rdynamic"]);
    run("strip", &["--strip-all".as_ref(), app.as_os_str()]);
    let workload = Workload::start(&app);

    let addr = workload.addr("outer_fn");
    let found = Symbolizer::new().user(
        &ProcessView::of_pid(workload.pid()),
        &workload.mapping_of(addr),
        addr,
    );
    assert_eq!((found.frames[0].name.as_str(), found.source), ("outer_fn", Source::Symtab));
    assert_eq!(found.frames.len(), 1);
}
