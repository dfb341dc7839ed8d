//! What the symbolizer remembers: binaries by what they are (build-id, or
//! device, inode, size and mtime when there is none), never by path; which
//! binary each mapping of each process is; and the result for each
//! (binary, file offset), so a hot address is symbolized once.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use blazesym::helper::ElfResolver;
use blazesym::symbolize::{FindSymOpts, Symbolize};
use firebox_model::{Frame, FrameKind};
use tracing::{debug, trace, warn};

use crate::config::{hex, SymbolizerConfig};
use crate::elf::debug::{self, DebugQuery};
use crate::elf::symtab::SymbolTable;
use crate::elf::{virt_offset, ElfInfo, FileIdentity, Segment};
use crate::process::live_path;
use crate::resolve::binary_candidates;
use crate::{names, Error, Mapping, ModuleFile, ProcessView, Source, Symbolized};

/// Past this many entries a cache starts over, so a long-running agent does
/// not grow without bound.
const MAX_ENTRIES: usize = 1 << 20;

/// What makes two files the same binary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum BinaryKey {
    BuildId(Vec<u8>),
    File(FileIdentity),
}

impl BinaryKey {
    fn of(info: &ElfInfo) -> Option<Self> {
        match (&info.build_id, info.identity) {
            (Some(id), _) => Some(BinaryKey::BuildId(id.clone())),
            (None, Some(identity)) => Some(BinaryKey::File(identity)),
            (None, None) => None,
        }
    }
}

/// A mapping of one process; a pid, its root and the mapping's own fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MappingKey {
    pid: u32,
    root: PathBuf,
    mapping: Mapping,
}

/// Where a binary's names are read from.
enum Names {
    /// blazesym over the binary or its debug file.
    Elf { resolver: ElfResolver, debug_file: bool },
    /// A table read from memory (the vDSO).
    Table(SymbolTable),
    /// Nothing could be loaded.
    None,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Names::Elf { debug_file, .. } => write!(f, "Elf {{ debug_file: {debug_file} }}"),
            Names::Table(_) => f.write_str("Table"),
            Names::None => f.write_str("None"),
        }
    }
}

/// One binary, however many processes map it.
#[derive(Debug)]
struct Binary {
    segments: Vec<Segment>,
    names: Names,
    file: ModuleFile,
}

impl Binary {
    /// The binary read from `path`, with its debug file when it has no DWARF
    /// of its own.
    fn open(
        path: &Path,
        info: ElfInfo,
        process: &ProcessView,
        mapping: &Mapping,
        config: &SymbolizerConfig,
    ) -> Self {
        let mut source = (path.to_path_buf(), false);
        if !info.has_dwarf {
            let process_path = live_path(&mapping.path);
            let query = DebugQuery {
                build_id: info.build_id.as_deref().or(mapping.build_id.as_deref()),
                debuglink: info.debuglink.as_ref().map(|(name, crc)| (name.as_os_str(), *crc)),
                path: &process_path,
                root: &process.root,
            };
            if let Some((debug_path, _)) = debug::find(&query, config) {
                source = (debug_path, true);
            }
        }
        let file = ModuleFile {
            build_id: info.build_id.clone(),
            path: Some(path.to_path_buf()),
            debug_file: source.1.then(|| source.0.clone()),
        };
        Binary { segments: info.segments, names: load_elf(&source.0, source.1), file }
    }

    /// The binary known only by its debug file.
    fn from_debug_file(path: &Path, info: ElfInfo) -> Self {
        let file = ModuleFile {
            build_id: info.build_id.clone(),
            path: None,
            debug_file: Some(path.into()),
        };
        Binary { segments: info.segments, names: load_elf(path, true), file }
    }

    /// The frames at file offset `offset`, or none when no symbol holds it.
    fn symbolize(&self, offset: u64, inlined: bool) -> Option<Symbolized> {
        let vaddr = virt_offset(&self.segments, offset)?;
        match &self.names {
            Names::Elf { resolver, debug_file } => {
                let opts =
                    if inlined { FindSymOpts::CodeInfoAndInlined } else { FindSymOpts::Basic };
                let sym = match resolver.find_sym(vaddr, &opts) {
                    Ok(Ok(sym)) => sym,
                    Ok(Err(reason)) => {
                        trace!(vaddr, %reason, "no symbol");
                        return None;
                    }
                    Err(error) => {
                        debug!(vaddr, %error, "symbol lookup failed");
                        return None;
                    }
                };
                let name = names::clean(sym.name);
                if name.is_empty() {
                    return None;
                }
                let mut frames = vec![Frame::native(name)];
                frames.extend(
                    sym.inlined
                        .iter()
                        .map(|f| names::clean(&f.name))
                        .filter(|n| !n.is_empty())
                        .map(|n| Frame::new(n, FrameKind::Inlined)),
                );
                let source = match (debug_file, sym.code_info.is_some()) {
                    (true, _) => Source::DebugFile,
                    (false, true) => Source::Dwarf,
                    (false, false) => Source::Symtab,
                };
                Some(Symbolized { frames, source })
            }
            Names::Table(table) => Some(Symbolized {
                frames: vec![Frame::native(names::clean(table.find(vaddr)?))],
                source: Source::Symtab,
            }),
            Names::None => None,
        }
    }
}

/// blazesym's resolver for the ELF file at `path`.
///
/// No extra debug directories are passed: debug files are found by
/// [`debug::find`], inside the process's root.
fn load_elf(path: &Path, debug_file: bool) -> Names {
    match ElfResolver::open_with_debug_dirs(path, Vec::<PathBuf>::new()) {
        Ok(resolver) => Names::Elf { resolver, debug_file },
        Err(source) => {
            let error = Error::Symbols { path: path.to_path_buf(), source };
            warn!(error = %error_chain(&error), "binary stays unsymbolized");
            Names::None
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The binaries, mappings and results seen so far.
#[derive(Debug, Default)]
pub(crate) struct BinaryCache {
    binaries: Vec<Binary>,
    by_key: HashMap<BinaryKey, usize>,
    mappings: HashMap<MappingKey, Option<usize>>,
    results: HashMap<(usize, u64), Option<Symbolized>>,
}

impl BinaryCache {
    /// The frames for `addr` in file-backed `mapping`, or none when nothing
    /// names it.
    pub(crate) fn symbolize(
        &mut self,
        process: &ProcessView,
        mapping: &Mapping,
        addr: u64,
        config: &SymbolizerConfig,
    ) -> Option<Symbolized> {
        let id = self.binary_for(process, mapping, config, Self::load_file)?;
        self.symbolize_in(id, mapping.file_offset_of(addr), config.inlined_frames)
    }

    /// The frames for `addr` in the vDSO `mapping`.
    pub(crate) fn symbolize_vdso(
        &mut self,
        process: &ProcessView,
        mapping: &Mapping,
        addr: u64,
        config: &SymbolizerConfig,
    ) -> Option<Symbolized> {
        let id = self.binary_for(process, mapping, config, Self::load_vdso)?;
        self.symbolize_in(id, mapping.file_offset_of(addr), false)
    }

    /// The files behind `mapping` of `process`, once an address in it was
    /// symbolized.
    pub(crate) fn file_of(&self, process: &ProcessView, mapping: &Mapping) -> Option<&ModuleFile> {
        let key =
            MappingKey { pid: process.pid, root: process.root.clone(), mapping: mapping.clone() };
        let id = (*self.mappings.get(&key)?)?;
        Some(&self.binaries[id].file)
    }

    /// Forgets the mappings of `pid`, whose process is gone; the binaries
    /// stay, other processes may map them.
    pub(crate) fn forget_process(&mut self, pid: u32) {
        self.mappings.retain(|key, _| key.pid != pid);
    }

    fn symbolize_in(&mut self, id: usize, offset: u64, inlined: bool) -> Option<Symbolized> {
        if let Some(hit) = self.results.get(&(id, offset)) {
            return hit.clone();
        }
        let result = self.binaries[id].symbolize(offset, inlined);
        if self.results.len() >= MAX_ENTRIES {
            self.results.clear();
        }
        self.results.insert((id, offset), result.clone());
        result
    }

    fn binary_for(
        &mut self,
        process: &ProcessView,
        mapping: &Mapping,
        config: &SymbolizerConfig,
        load: fn(&mut Self, &ProcessView, &Mapping, &SymbolizerConfig) -> Option<usize>,
    ) -> Option<usize> {
        let key =
            MappingKey { pid: process.pid, root: process.root.clone(), mapping: mapping.clone() };
        if let Some(&known) = self.mappings.get(&key) {
            return known;
        }
        let id = load(self, process, mapping, config);
        if self.mappings.len() >= MAX_ENTRIES {
            self.mappings.clear();
        }
        self.mappings.insert(key, id);
        id
    }

    /// Finds, checks and loads the binary of a file-backed mapping.
    fn load_file(
        &mut self,
        process: &ProcessView,
        mapping: &Mapping,
        config: &SymbolizerConfig,
    ) -> Option<usize> {
        if let Some(build_id) = &mapping.build_id {
            if let Some(&id) = self.by_key.get(&BinaryKey::BuildId(build_id.clone())) {
                return Some(id);
            }
        }

        for (path, origin) in binary_candidates(process, mapping, config) {
            let info = match ElfInfo::read(&path) {
                Ok(info) => info,
                Err(error) => {
                    trace!(candidate = %path.display(), ?origin, error = %error_chain(&error), "binary candidate unreadable");
                    continue;
                }
            };
            if let Some(want) = &mapping.build_id {
                if info.build_id.as_deref() != Some(want.as_slice()) {
                    debug!(
                        candidate = %path.display(),
                        ?origin,
                        want = %hex(want),
                        have = %info.build_id.as_deref().map(hex).unwrap_or_default(),
                        "binary candidate rejected: build-id differs"
                    );
                    continue;
                }
            }
            debug!(binary = %path.display(), ?origin, "reading symbols");
            let key = BinaryKey::of(&info);
            if let Some(&id) = key.as_ref().and_then(|k| self.by_key.get(k)) {
                return Some(id);
            }
            let binary = Binary::open(&path, info, process, mapping, config);
            return Some(self.add(key, binary));
        }

        // With the binary out of reach, a debug file found by the mapping's
        // build-id still names its functions.
        let build_id = mapping.build_id.as_deref()?;
        let path = live_path(&mapping.path);
        let query = DebugQuery {
            build_id: Some(build_id),
            debuglink: None,
            path: &path,
            root: &process.root,
        };
        let (debug_path, info) = debug::find(&query, config)?;
        let binary = Binary::from_debug_file(&debug_path, info);
        Some(self.add(Some(BinaryKey::BuildId(build_id.to_vec())), binary))
    }

    /// Reads the vDSO out of the process's memory.
    fn load_vdso(
        &mut self,
        process: &ProcessView,
        mapping: &Mapping,
        _: &SymbolizerConfig,
    ) -> Option<usize> {
        let mem = PathBuf::from(format!("/proc/{}/mem", process.pid));
        let len = usize::try_from(mapping.end.checked_sub(mapping.start)?).ok()?;
        if len > 1 << 24 {
            return None;
        }
        let mut image = vec![0; len];
        let read =
            std::fs::File::open(&mem).and_then(|f| f.read_exact_at(&mut image, mapping.start));
        if let Err(error) = read {
            debug!(pid = process.pid, %error, "cannot read the vdso");
            return None;
        }
        let info = ElfInfo::from_bytes(&image, &mem).ok()?;
        let key = BinaryKey::of(&info);
        if let Some(&id) = key.as_ref().and_then(|k| self.by_key.get(k)) {
            return Some(id);
        }
        let object = object::File::parse(image.as_slice()).ok()?;
        let file = ModuleFile { build_id: info.build_id.clone(), path: None, debug_file: None };
        let binary = Binary {
            segments: info.segments,
            names: Names::Table(SymbolTable::from_object(&object)),
            file,
        };
        Some(self.add(key, binary))
    }

    fn add(&mut self, key: Option<BinaryKey>, binary: Binary) -> usize {
        let id = self.binaries.len();
        self.binaries.push(binary);
        if let Some(key) = key {
            self.by_key.insert(key, id);
        }
        id
    }
}
