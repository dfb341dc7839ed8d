//! User-space addresses of live processes: DWARF, symbol tables, inlined
//! functions, C++ and Rust names, the vDSO, unresolved addresses, caching.

use firebox_model::FrameKind;
use firebox_symbolizer::{ProcessView, Source, Symbolized, Symbolizer};
use object::{Object, ObjectSymbol};

use crate::support::{compile_c, compile_rust, maps, Scratch, Workload};

/// The names and kinds of `symbolized`'s frames, outermost first.
fn frames(symbolized: &Symbolized) -> Vec<(&str, FrameKind)> {
    symbolized.frames.iter().map(|f| (f.name.as_str(), f.kind)).collect()
}

/// The outermost frame, checking that every other frame is an inlined one
/// (a function's first instruction may already belong to inlined code).
fn outermost(symbolized: &Symbolized) -> (&str, FrameKind) {
    assert!(symbolized.frames[1..].iter().all(|f| f.kind == FrameKind::Inlined), "{symbolized:?}");
    (symbolized.frames[0].name.as_str(), symbolized.frames[0].kind)
}

/// Symbolizes the address the workload printed under `label`.
fn at(symbolizer: &mut Symbolizer, workload: &Workload, label: &str) -> Symbolized {
    let addr = workload.addr(label);
    let process = ProcessView::of_pid(workload.pid());
    symbolizer.user(&process, &workload.mapping_of(addr), addr)
}

/// A C function resolves from the binary's own DWARF.
#[test]
fn c_function_from_dwarf() {
    let scratch = Scratch::new("c-dwarf");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g"]);
    let workload = Workload::start(&app);

    let mut symbolizer = Symbolizer::new();
    let outer = at(&mut symbolizer, &workload, "outer_fn");
    assert_eq!(outermost(&outer), ("outer_fn", FrameKind::Native));
    assert_eq!(outer.source, Source::Dwarf);
    let parse = at(&mut symbolizer, &workload, "parse_header");
    assert_eq!(frames(&parse), [("parse_header", FrameKind::Native)]);
}

/// A call site inside two always_inline functions gives the real function
/// first and then each inlined function as an Inlined frame, innermost last.
#[test]
fn inlined_functions_are_frames_of_their_own() {
    let scratch = Scratch::new("c-inline");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g"]);
    let workload = Workload::start(&app);

    let mut symbolizer = Symbolizer::new();
    let site = at(&mut symbolizer, &workload, "inline_call");
    assert_eq!(
        frames(&site),
        [
            ("outer_fn", FrameKind::Native),
            ("mid_inline", FrameKind::Inlined),
            ("leaf_inline", FrameKind::Inlined)
        ]
    );
    assert_eq!(site.source, Source::Dwarf);
}

/// Without DWARF the symbol table still names the functions, with no
/// inlined frames.
#[test]
fn c_function_from_the_symbol_table() {
    let scratch = Scratch::new("c-symtab");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2"]);
    let workload = Workload::start(&app);

    let mut symbolizer = Symbolizer::new();
    let site = at(&mut symbolizer, &workload, "inline_call");
    assert_eq!(frames(&site), [("outer_fn", FrameKind::Native)]);
    assert_eq!(site.source, Source::Symtab);
}

const CPP_NAMES: [(&str, &str); 4] = [
    ("helper", "(anonymous namespace)::helper"),
    ("exec", "void exec<void (*)()>"),
    ("lambda_call", "main::{lambda(int, int)#1}::operator"),
    ("get_call", "app::Store<int>::get"),
];

/// C++ names from DWARF are demangled and cut per C02: anonymous namespace,
/// template arguments with parentheses and the lambda survive.
#[test]
fn cpp_names_from_dwarf_are_cleaned() {
    let scratch = Scratch::new("cpp-dwarf");
    let app = scratch.path("app");
    compile_c("names.cpp", &app, &["-O0", "-g"]);
    let workload = Workload::start(&app);

    let mut symbolizer = Symbolizer::new();
    for (label, name) in CPP_NAMES {
        let found = at(&mut symbolizer, &workload, label);
        assert_eq!(frames(&found), [(name, FrameKind::Native)], "for {label}");
        assert_eq!(found.source, Source::Dwarf, "for {label}");
    }
}

/// The same C++ names come out of the symbol table of a build without -g.
#[test]
fn cpp_names_from_the_symbol_table_are_cleaned() {
    let scratch = Scratch::new("cpp-symtab");
    let app = scratch.path("app");
    compile_c("names.cpp", &app, &["-O0"]);
    let workload = Workload::start(&app);

    let mut symbolizer = Symbolizer::new();
    for (label, name) in CPP_NAMES {
        let found = at(&mut symbolizer, &workload, label);
        assert_eq!(frames(&found), [(name, FrameKind::Native)], "for {label}");
        assert_eq!(found.source, Source::Symtab, "for {label}");
    }
}

/// Rust names of both manglings demangle without their hash, and the array
/// type `[u8; 4]` stays inside one frame name.
#[test]
fn rust_names_keep_array_types() {
    let scratch = Scratch::new("rust");
    for (mangling, flags) in
        [("legacy", &[][..]), ("v0", &["-C", "symbol-mangling-version=v0"][..])]
    {
        let app = scratch.path(&format!("app-{mangling}"));
        let flags = [&["-C", "opt-level=1", "-g"][..], flags].concat();
        compile_rust("names.rs", &app, &flags);
        let workload = Workload::start(&app);

        let mut symbolizer = Symbolizer::new();
        let spin = at(&mut symbolizer, &workload, "spin");
        assert_eq!(
            outermost(&spin),
            ("<[u8; 4] as app::Hot>::spin", FrameKind::Native),
            "{mangling}"
        );
        let compute = at(&mut symbolizer, &workload, "compute");
        assert_eq!(outermost(&compute), ("app::worker::compute", FrameKind::Native), "{mangling}");
    }
}

/// A binary deleted after it started is still read, through map_files.
#[test]
fn deleted_binary_is_read_through_map_files() {
    let scratch = Scratch::new("deleted");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g"]);
    let workload = Workload::start(&app);
    std::fs::remove_file(&app).unwrap();

    let mapping = workload.mapping_of(workload.addr("outer_fn"));
    assert!(mapping.path.to_string_lossy().ends_with(" (deleted)"), "{mapping:?}");
    let mut symbolizer = Symbolizer::new();
    let outer = at(&mut symbolizer, &workload, "outer_fn");
    assert_eq!(outermost(&outer), ("outer_fn", FrameKind::Native));
    assert_eq!(outer.source, Source::Dwarf);
}

/// An address no symbol holds names the module and the file offset; an
/// address in anonymous memory without a perf map, or outside the mapping
/// it came with, is `[unknown]`.
#[test]
fn unresolved_addresses_name_module_and_offset() {
    let scratch = Scratch::new("unresolved");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2"]);
    let workload = Workload::start(&app);
    let process = ProcessView::of_pid(workload.pid());

    // The ELF header: mapped, but no function.
    let all = maps(workload.pid());
    let header =
        all.iter().find(|m| m.path == app && m.file_offset == 0).expect("no header mapping");
    let mut symbolizer = Symbolizer::new();
    let found = symbolizer.user(&process, header, header.start + 0x10);
    assert_eq!(found, Symbolized::unresolved_in("app", 0x10));

    let stack = all.iter().find(|m| m.path.as_os_str() == "[stack]").expect("no stack mapping");
    let found = symbolizer.user(&process, stack, stack.start + 8);
    assert_eq!(found, Symbolized::unknown());

    // A caller's mistake (an address outside its mapping) is no panic.
    assert_eq!(symbolizer.user(&process, header, header.end + 5), Symbolized::unknown());

    let stats = symbolizer.stats();
    assert_eq!(stats.total(), 3);
    assert_eq!(stats.symbolized(), 0);
}

/// A vDSO function is named from the vDSO image in the process's memory.
#[test]
fn vdso_functions_are_named() {
    let scratch = Scratch::new("vdso");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2"]);
    let workload = Workload::start(&app);
    let vdso = maps(workload.pid())
        .into_iter()
        .find(|m| m.path.as_os_str() == "[vdso]")
        .expect("the workload has no vdso");

    // Where the vDSO's own symbol table puts clock_gettime, read directly.
    let mut image = vec![0; (vdso.end - vdso.start) as usize];
    let mem = std::fs::File::open(format!("/proc/{}/mem", workload.pid())).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&mem, &mut image, vdso.start).unwrap();
    let elf = object::File::parse(image.as_slice()).unwrap();
    let symbol = elf
        .dynamic_symbols()
        .find(|s| s.name() == Ok("__vdso_clock_gettime"))
        .expect("the vdso has no __vdso_clock_gettime");

    let mut symbolizer = Symbolizer::new();
    let process = ProcessView::of_pid(workload.pid());
    let found = symbolizer.user(&process, &vdso, vdso.start + symbol.address() + 4);
    assert_eq!(frames(&found), [("__vdso_clock_gettime", FrameKind::Native)]);
    assert_eq!(found.source, Source::Symtab);
}

/// Two processes of the same binary, at two paths, share one loaded binary;
/// repeated addresses give the same frames and are all counted.
#[test]
fn binaries_are_cached_by_build_id_not_path() {
    let scratch = Scratch::new("cache");
    let app = scratch.path("app");
    compile_c("workload.c", &app, &["-O2", "-g"]);
    let copy = scratch.path("copy");
    std::fs::copy(&app, &copy).unwrap();
    let first = Workload::start(&app);
    let second = Workload::start(&copy);

    let mut symbolizer = Symbolizer::new();
    let a = at(&mut symbolizer, &first, "outer_fn");
    let b = at(&mut symbolizer, &second, "outer_fn");
    let again = at(&mut symbolizer, &first, "outer_fn");
    assert_eq!(a, b);
    assert_eq!(a, again);
    assert_eq!(symbolizer.loaded_binaries(), 1);
    assert_eq!(symbolizer.stats().by_module()["app"][&Source::Dwarf], 2);
    assert_eq!(symbolizer.stats().by_module()["copy"][&Source::Dwarf], 1);
    assert_eq!(symbolizer.stats().symbolized_share(), Some(1.0));
}
