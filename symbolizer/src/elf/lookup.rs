//! Names for virtual addresses of one binary, through blazesym.
//!
//! Two blazesym resolvers work together. The DWARF one (over the binary, or
//! over its debug file) gives the function and the functions inlined at the
//! address. The ELF-symbols-only one gives the linkage name of the
//! function: compilers leave the qualified name out of the DWARF of some
//! functions (C++ functions in an anonymous namespace carry only `helper`),
//! so when both agree on where the function starts, the symbol table's name
//! wins for the outermost frame.
//!
//! A binary without DWARF and without a debug file is read by the ELF-only
//! resolver alone: blazesym's DWARF loader follows `.gnu_debuglink` next to
//! the host's copy of the path, which may be another file than the process's.

use std::path::{Path, PathBuf};

use blazesym::helper::ElfResolver;
use blazesym::symbolize::{self, cache, source, FindSymOpts, Input, Symbolize};
use firebox_model::{Frame, FrameKind};
use tracing::{debug, trace, warn};

use super::plt::PltStubs;
use crate::{names, Error, Source, Symbolized};

/// The resolvers of one binary.
pub(crate) struct ElfNames {
    dwarf: Option<ElfResolver>,
    symtab: Option<Symtab>,
    /// Whether the DWARF comes from a separate debug file.
    dwarf_from_debug_file: bool,
    /// Whether the symbol table comes from a separate debug file.
    symtab_from_debug_file: bool,
    /// The binary's PLT stubs, which no symbol covers.
    plt: PltStubs,
}

impl std::fmt::Debug for ElfNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElfNames")
            .field("dwarf", &self.dwarf.is_some())
            .field("symtab", &self.symtab.as_ref().map(|s| &s.path))
            .field("dwarf_from_debug_file", &self.dwarf_from_debug_file)
            .finish()
    }
}

/// Where an [`ElfNames`] reads from.
pub(crate) struct ElfFiles<'a> {
    /// The binary and whether it holds DWARF.
    pub(crate) binary: (&'a Path, bool),
    /// Its debug file, whether that holds DWARF and whether it holds a
    /// symbol table.
    pub(crate) debug_file: Option<(&'a Path, bool, bool)>,
}

impl ElfNames {
    /// The resolvers for `files`; a file blazesym cannot load is logged
    /// and left out.
    pub(crate) fn open(files: &ElfFiles<'_>) -> Self {
        let (binary, binary_dwarf) = files.binary;
        let (dwarf_path, dwarf_from_debug_file) = match files.debug_file {
            Some((path, true, _)) => (Some(path), true),
            _ => (binary_dwarf.then_some(binary), false),
        };
        let (symtab_path, symtab_from_debug_file) = match files.debug_file {
            Some((path, _, true)) => (path, true),
            _ => (binary, false),
        };
        ElfNames {
            dwarf: dwarf_path.and_then(|p| log_failure(p, open_dwarf(p))),
            symtab: log_failure(symtab_path, Symtab::open(symtab_path)),
            dwarf_from_debug_file,
            symtab_from_debug_file,
            plt: PltStubs::read(binary),
        }
    }

    /// The frames at virtual address `vaddr`, outermost first.
    pub(crate) fn find(&self, vaddr: u64, inlined: bool) -> Option<Symbolized> {
        if let Some(stub) = self.plt.find(vaddr) {
            return Some(Symbolized { frames: vec![Frame::native(stub)], source: Source::Symtab });
        }
        let elf = self.symtab.as_ref().and_then(|s| s.find(vaddr));
        if let Some(found) =
            self.dwarf.as_ref().and_then(|d| self.find_dwarf(d, vaddr, inlined, &elf))
        {
            return Some(found);
        }

        let (name, _) = elf?;
        let name = names::clean(&name);
        let source = if self.symtab_from_debug_file { Source::DebugFile } else { Source::Symtab };
        (!name.is_empty()).then(|| Symbolized { frames: vec![Frame::native(name)], source })
    }

    fn find_dwarf(
        &self,
        dwarf: &ElfResolver,
        vaddr: u64,
        inlined: bool,
        elf: &Option<(String, u64)>,
    ) -> Option<Symbolized> {
        let opts = if inlined { FindSymOpts::CodeInfoAndInlined } else { FindSymOpts::CodeInfo };
        let sym = match dwarf.find_sym(vaddr, &opts) {
            Ok(Ok(sym)) => sym,
            Ok(Err(reason)) => {
                trace!(vaddr, %reason, "no symbol in DWARF");
                return None;
            }
            Err(error) => {
                debug!(vaddr, %error, "DWARF lookup failed");
                return None;
            }
        };
        let outer = match elf {
            Some((name, start)) if *start == sym.addr || sym.name.is_empty() => name.as_str(),
            _ => sym.name,
        };
        let outer = names::clean(outer);
        if outer.is_empty() {
            return None;
        }

        let mut frames = vec![Frame::native(outer)];
        frames.extend(
            sym.inlined
                .iter()
                .map(|f| names::clean(&f.name))
                .filter(|n| !n.is_empty())
                .map(|n| Frame::new(n, FrameKind::Inlined)),
        );
        let source = match (self.dwarf_from_debug_file, sym.code_info.is_some()) {
            (true, _) => Source::DebugFile,
            (false, true) => Source::Dwarf,
            (false, false) => Source::Symtab,
        };
        Some(Symbolized { frames, source })
    }
}

/// blazesym's DWARF resolver for `path`, with no debug directories of its
/// own: debug files are found inside the process's root instead.
fn open_dwarf(path: &Path) -> Result<ElfResolver, Error> {
    ElfResolver::open_with_debug_dirs(path, Vec::<PathBuf>::new())
        .map_err(|source| Error::Symbols { path: path.to_path_buf(), source })
}

fn log_failure<T>(path: &Path, result: Result<T, Error>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        // A file seen through a process's root goes away with the process:
        // that is an ending, not a fault worth a warning.
        Err(error) if !path.exists() => {
            debug!(file = %path.display(), error = %error_chain(&error), "file gone before loading");
            None
        }
        Err(error) => {
            warn!(file = %path.display(), error = %error_chain(&error), "symbols not loaded");
            None
        }
    }
}

/// `error` and its sources on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The ELF symbol tables of one file, through a blazesym symbolizer of its
/// own that loaded the file once and never looks at the path again (the
/// path may be a `/proc/PID/map_files` entry that goes away).
struct Symtab {
    symbolizer: symbolize::Symbolizer,
    source: source::Source<'static>,
    path: PathBuf,
}

impl Symtab {
    fn open(path: &Path) -> Result<Self, Error> {
        let symbolizer = symbolize::Symbolizer::builder()
            .enable_auto_reload(false)
            .enable_code_info(false)
            .enable_inlined_fns(false)
            .enable_demangling(false)
            .build();
        symbolizer
            .cache(&cache::Cache::Elf(cache::Elf::new(path)))
            .map_err(|source| Error::Symbols { path: path.to_path_buf(), source })?;
        let mut elf = source::Elf::new(path);
        elf.debug_syms = false;
        Ok(Symtab { symbolizer, source: source::Source::Elf(elf), path: path.to_path_buf() })
    }

    /// The raw name and start address of the symbol that holds `vaddr`.
    fn find(&self, vaddr: u64) -> Option<(String, u64)> {
        match self.symbolizer.symbolize_single(&self.source, Input::VirtOffset(vaddr)) {
            Ok(symbolize::Symbolized::Sym(sym)) => Some((sym.name.into_owned(), sym.addr)),
            Ok(symbolize::Symbolized::Unknown(reason)) => {
                trace!(vaddr, %reason, "no ELF symbol");
                None
            }
            Err(error) => {
                debug!(vaddr, %error, "ELF symbol lookup failed");
                None
            }
        }
    }
}
