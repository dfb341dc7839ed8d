//! What the symbolizer remembers: binaries by what they are (build-id, or
//! device, inode, size and mtime when there is none), never by path; which
//! binary each mapping of each process is; and the result for each
//! (binary, file offset), so a hot address is symbolized once.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use firebox_model::Frame;
use tracing::{debug, trace};

use crate::config::{hex, SymbolizerConfig};
use crate::elf::debug::{self, DebugQuery};
use crate::elf::lookup::{error_chain, ElfFiles, ElfNames};
use crate::elf::symtab::SymbolTable;
use crate::elf::{virt_offset, ElfInfo, FileIdentity, Segment};
use crate::process::live_path;
use crate::resolve::binary_candidates;
use crate::{names, Mapping, ModuleFile, ProcessView, Source, Symbolized};

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

/// Where a mapping sits: the pid and the mapping's range and offset. Looking
/// it up allocates nothing; the path, build-id and root are compared in
/// [`KnownMapping`].
type MappingSlot = (u32, u64, u64, u64);

/// A mapping seen before and the binary it turned out to be.
#[derive(Debug)]
struct KnownMapping {
    root: PathBuf,
    mapping: Mapping,
    binary: Option<usize>,
}

/// Where a binary's names are read from.
#[derive(Debug)]
enum Names {
    /// blazesym over the binary and its debug file.
    Elf(Box<ElfNames>),
    /// A table read from memory (the vDSO).
    Table(SymbolTable),
}

/// One binary, however many processes map it.
#[derive(Debug)]
struct Binary {
    segments: Vec<Segment>,
    names: Names,
    file: ModuleFile,
}

impl Binary {
    /// The binary found at `path` and read from `read_from` (the same file,
    /// held open), with its debug file when it has no DWARF of its own.
    fn open(
        path: &Path,
        read_from: &Path,
        info: ElfInfo,
        process: &ProcessView,
        mapping: &Mapping,
        config: &SymbolizerConfig,
    ) -> Self {
        let mut debug_file = None;
        if !info.has_dwarf {
            let process_path = live_path(&mapping.path);
            // A binary read from the host because its process is gone (and
            // its build-id matched) has its debug file on the host too;
            // every candidate is still checked against the build-id.
            let gone = !process.root.exists() && !path.starts_with(&process.root);
            let root = if gone { Path::new("/") } else { process.root.as_path() };
            let query = DebugQuery {
                build_id: info.build_id.as_deref().or(mapping.build_id.as_deref()),
                debuglink: info.debuglink.as_ref().map(|(name, crc)| (name.as_os_str(), *crc)),
                path: &process_path,
                root,
            };
            debug_file = debug::find(&query, config);
        }
        let files = ElfFiles {
            binary: (read_from, info.has_dwarf),
            debug_file: debug_file.as_ref().map(|(p, d)| (p.as_path(), d.has_dwarf, d.has_symtab)),
        };
        let file = ModuleFile {
            build_id: info.build_id.clone(),
            path: Some(path.to_path_buf()),
            debug_file: debug_file.as_ref().map(|(p, _)| p.clone()),
        };
        let names = Names::Elf(Box::new(ElfNames::open(&files)));
        Binary { segments: info.segments, names, file }
    }

    /// The frames at file offset `offset`, or none when no symbol holds it.
    fn symbolize(&self, offset: u64, inlined: bool) -> Option<Symbolized> {
        let vaddr = virt_offset(&self.segments, offset)?;
        match &self.names {
            Names::Elf(names) => names.find(vaddr, inlined),
            Names::Table(table) => Some(Symbolized {
                frames: vec![Frame::native(names::clean(table.find(vaddr)?))],
                source: Source::Symtab,
            }),
        }
    }
}

/// A path that opens the very file `file` is, whatever its own path names
/// by then.
fn held_open(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// The binaries, mappings and results seen so far.
#[derive(Debug, Default)]
pub(crate) struct BinaryCache {
    binaries: Vec<Binary>,
    by_key: HashMap<BinaryKey, usize>,
    mappings: HashMap<MappingSlot, Vec<KnownMapping>>,
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
        let slot = (process.pid, mapping.start, mapping.end, mapping.file_offset);
        let known = self
            .mappings
            .get(&slot)?
            .iter()
            .find(|k| k.mapping == *mapping && k.root == process.root)?;
        Some(&self.binaries[known.binary?].file)
    }

    /// How many binaries are loaded.
    pub(crate) fn len(&self) -> usize {
        self.binaries.len()
    }

    /// Forgets the mappings of `pid`, whose process is gone; the binaries
    /// stay, other processes may map them.
    pub(crate) fn forget_process(&mut self, pid: u32) {
        self.mappings.retain(|slot, _| slot.0 != pid);
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
        let slot = (process.pid, mapping.start, mapping.end, mapping.file_offset);
        let known = self
            .mappings
            .get(&slot)
            .and_then(|seen| seen.iter().find(|k| k.mapping == *mapping && k.root == process.root));
        if let Some(known) = known {
            return known.binary;
        }
        let binary = load(self, process, mapping, config);
        if self.mappings.len() >= MAX_ENTRIES {
            self.mappings.clear();
        }
        let known = KnownMapping { root: process.root.clone(), mapping: mapping.clone(), binary };
        self.mappings.entry(slot).or_default().push(known);
        binary
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
            // The candidate is opened once and read through that descriptor
            // from then on: its path can name another file a moment later
            // (a library unloaded and another mapped at its address has the
            // same /proc/PID/map_files entry).
            let opened = match std::fs::File::open(&path) {
                Ok(opened) => opened,
                Err(error) => {
                    trace!(candidate = %path.display(), ?origin, %error, "binary candidate unreadable");
                    continue;
                }
            };
            let read_from = held_open(&opened);
            let info = match ElfInfo::read(&read_from) {
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
            let binary = Binary::open(&path, &read_from, info, process, mapping, config);
            drop(opened);
            return Some(self.add(key, binary));
        }

        // TODO: with the binary out of reach, its debug file alone could name
        // functions, but a debug file's program headers lose the file offsets
        // that turn a mapping offset into an address; a finder's copy of the
        // binary (`DebugInfoFinder::find_binary`) is the way for now.
        None
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
