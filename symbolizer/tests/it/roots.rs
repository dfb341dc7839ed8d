//! Binaries seen through another root (CASES C27): the mapping's build-id
//! picks the file, a file with another build-id is never used.

use std::path::Path;

use firebox_symbolizer::{Mapping, ProcessView, Source, Symbolized, Symbolizer, SymbolizerConfig};

use crate::support::{build_id, compile_c, dead_pid, Scratch, Workload};

/// The innermost name at `addr` for a process seen through `root`, with the
/// mapping carrying `build_id`.
fn name_at(
    root: &Path,
    mapping: &Mapping,
    build_id: Option<Vec<u8>>,
    addr: u64,
    config: SymbolizerConfig,
) -> (String, Source) {
    // The process is gone: map_files cannot short-cut the choice.
    let process = ProcessView { pid: dead_pid(), root: root.to_path_buf() };
    let mapping = Mapping { build_id, ..mapping.clone() };
    let found = Symbolizer::with_config(config).user(&process, &mapping, addr);
    (found.leaf_name().to_string(), found.source)
}

/// The root holds another binary at the mapping's path: the mapping's
/// build-id decides between it and the host's copy, and a build-id neither
/// has leaves the address unresolved.
#[test]
fn build_id_chooses_between_root_and_host() {
    let scratch = Scratch::new("roots");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g", "-Wl,--build-id"]);
    // Same code, one function renamed: at the same address the other name.
    let root = scratch.path("root");
    let in_root = root.join(app.strip_prefix("/").unwrap());
    std::fs::create_dir_all(in_root.parent().unwrap()).unwrap();
    compile_c("workload.c", &in_root, &["-O2", "-g", "-Wl,--build-id", "-DWORK_NAME=beta_work"]);
    let (host_id, root_id) = (build_id(&app), build_id(&in_root));
    assert_ne!(host_id, root_id);

    let workload = Workload::start(&app);
    let addr = workload.addr("work");
    let mapping = workload.mapping_of(addr);
    let default = SymbolizerConfig::default;

    assert_eq!(
        name_at(&root, &mapping, Some(root_id.clone()), addr, default()),
        ("beta_work".into(), Source::Dwarf)
    );
    assert_eq!(
        name_at(&root, &mapping, Some(host_id.clone()), addr, default()),
        ("alpha_work".into(), Source::Dwarf)
    );
    // Without a build-id only the root's file can be used.
    assert_eq!(name_at(&root, &mapping, None, addr, default()).0, "beta_work");

    // Nothing matches: module+offset, never a wrong name.
    let unresolved = Symbolized::unresolved_in("app", mapping.file_offset_of(addr));
    let none = name_at(&root, &mapping, Some(vec![0xaa; 20]), addr, default());
    assert_eq!(none, (unresolved.leaf_name().to_string(), Source::Unresolved));

    // With the host fallback off, the host's matching copy is not read.
    let no_host = SymbolizerConfig { host_fallback: false, ..default() };
    assert_eq!(name_at(&root, &mapping, Some(host_id), addr, no_host).1, Source::Unresolved);
}
