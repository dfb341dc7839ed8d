//! Full user stacks from a copy of the stack: DWARF CFI unwinding with
//! framehop.
//!
//! Each sample carries the user registers (ip, sp, bp) and the top of the
//! user stack. framehop walks it with the `.eh_frame`/`.eh_frame_hdr` (or
//! `.debug_frame`) rules of the module each address lies in, falling back to
//! frame pointers where a module has no rules. Modules are read through the
//! process's own root, once per file; the parsed sections are shared by
//! every process that maps the same file.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use firebox_symbolizer::{mapped_file_candidates, Mapping, MappingKind};
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder as _};
use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSegment};

use super::procs::Process;
use super::{cfi, frame_pointers, sigframe};

/// `sample_regs_user` mask: bp, sp and ip in perf's x86_64 register order.
pub(crate) const REGS_MASK: u64 = (1 << 6) | (1 << 7) | (1 << 8);

/// How deep an unwind may go before it is cut.
const MAX_FRAMES: usize = 1024;

/// The registers an unwind starts from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserRegs {
    pub(crate) ip: u64,
    pub(crate) sp: u64,
    pub(crate) bp: u64,
}

impl UserRegs {
    /// Reads the registers of [`REGS_MASK`], which perf stores in bit order.
    pub(crate) fn from_sampled(mask: u64, values: &[u64]) -> Option<Self> {
        if mask != REGS_MASK || values.len() != 3 {
            return None;
        }
        Some(UserRegs { bp: values[0], sp: values[1], ip: values[2] })
    }
}

/// The unwind sections of one file, with the segment table that places
/// them in a process.
struct UnwindFile {
    text: Option<(Range<u64>, Arc<[u8]>)>,
    eh_frame: Option<(Range<u64>, Arc<[u8]>)>,
    eh_frame_hdr: Option<(Range<u64>, Arc<[u8]>)>,
    debug_frame: Option<Arc<[u8]>>,
    /// Which code its rules cover, and which only `.debug_frame` does.
    coverage: cfi::Coverage,
    got: Option<Range<u64>>,
    /// A Go program: it keeps frame pointers.
    go: bool,
    /// Whether its code keeps frame pointers, read from its rules when
    /// first asked (see [`frame_pointers`]).
    frame_pointers: OnceLock<bool>,
    /// The addresses of its sigreturn trampolines (see [`sigframe`]).
    trampolines: Vec<u64>,
    /// Whether it names a dynamic loader: libraries join it at run time.
    interpreter: bool,
    /// (file offset range, virtual address) of each loadable segment.
    segments: Vec<(Range<u64>, u64)>,
}

impl UnwindFile {
    /// Reads the unwind sections of the file at `path`; with `build_id`,
    /// only if the file is that build.
    fn load(path: &std::path::Path, build_id: Option<&[u8]>) -> Option<UnwindFile> {
        let file = File::open(path).ok()?;
        let cache = ReadCache::new(file);
        let object = object::File::parse(&cache).ok()?;
        if let Some(expected) = build_id {
            if object.build_id().ok().flatten() != Some(expected) {
                tracing::debug!(path = %path.display(), "build-id differs; not used for unwinding");
                return None;
            }
        }
        let section = |name: &str| {
            let s = object.section_by_name(name)?;
            let data = s.uncompressed_data().ok()?;
            Some((s.address()..s.address() + s.size(), Arc::<[u8]>::from(&*data)))
        };
        let segments = object
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (offset..offset + size, s.address())
            })
            .collect();
        let eh_frame = section(".eh_frame");
        let debug_frame = section(".debug_frame").map(|(_, d)| d);
        let text = section(".text");
        let trampolines = text.as_ref().map_or_else(Vec::new, |(range, code)| {
            sigframe::trampolines(code).into_iter().map(|at| range.start + at).collect()
        });
        let text_start = text.as_ref().map_or(0, |(r, _)| r.start);
        let eh = eh_frame.as_ref().map(|(r, d)| (r, &**d));
        let coverage = cfi::coverage(text_start, eh, debug_frame.as_deref());
        Some(UnwindFile {
            text,
            eh_frame,
            eh_frame_hdr: section(".eh_frame_hdr"),
            debug_frame,
            coverage,
            go: frame_pointers::is_go(&object),
            frame_pointers: OnceLock::new(),
            trampolines,
            interpreter: object.section_by_name(".interp").is_some(),
            got: object.section_by_name(".got").map(|s| s.address()..s.address() + s.size()),
            segments,
        })
    }

    /// Whether its code keeps frame pointers.
    fn keeps_frame_pointers(&self) -> bool {
        *self.frame_pointers.get_or_init(|| {
            frame_pointers::kept(
                self.go,
                self.text.as_ref().map_or(0, |(r, _)| r.start),
                self.eh_frame.as_ref().map(|(r, d)| (r, &**d)),
                self.debug_frame.as_deref(),
            )
        })
    }

    /// What to add to a file's virtual addresses to get where they are in
    /// a process that mapped `mapping` of it. The kernel maps a segment
    /// from its page-aligned offset, so the segment is the one whose offset
    /// rounds down to the mapping's; segments may share a page, so mere
    /// containment could pick the one before.
    fn bias(&self, mapping: &Mapping) -> Option<u64> {
        const PAGE: u64 = 4096;
        let aligned =
            self.segments.iter().find(|(r, _)| r.start & !(PAGE - 1) == mapping.file_offset);
        let (range, vaddr) = aligned
            .or_else(|| self.segments.iter().find(|(r, _)| r.contains(&mapping.file_offset)))?;
        Some(
            mapping
                .start
                .wrapping_sub(mapping.file_offset)
                .wrapping_add(range.start)
                .wrapping_sub(*vaddr),
        )
    }

    /// The modules framehop gets for `mapping`: one, or, where only
    /// `.debug_frame` has rules for some of its code, one with `.eh_frame`
    /// and one with `.debug_frame` for each run of code (see [`cfi`]).
    fn modules(&self, mapping: &Mapping) -> Vec<Module<Arc<[u8]>>> {
        let Some(bias) = self.bias(mapping) else { return Vec::new() };
        let name = mapping.module_name();
        let module = |range: Range<u64>, debug_frame: bool| {
            let info = self.section_info(debug_frame);
            Module::new(name.to_string(), range, bias, info)
        };
        let mut modules = Vec::new();
        let mut start = mapping.start;
        for svma in &self.coverage.debug_frame_only {
            let Some(avma) = placed(svma, bias, start..mapping.end) else { continue };
            if start < avma.start {
                modules.push(module(start..avma.start, false));
            }
            start = avma.end;
            modules.push(module(avma, true));
        }
        if start < mapping.end {
            modules.push(module(start..mapping.end, false));
        }
        modules
    }

    /// The sections framehop reads: `.debug_frame` alone, or the others
    /// (with `.debug_frame`, which framehop reads only when there is no
    /// `.eh_frame`).
    fn section_info(&self, debug_frame_only: bool) -> ExplicitModuleSectionInfo<Arc<[u8]>> {
        let info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: self.text.as_ref().map(|(r, _)| r.clone()),
            text: self.text.as_ref().map(|(_, d)| d.clone()),
            got_svma: self.got.clone(),
            debug_frame: self.debug_frame.clone(),
            ..Default::default()
        };
        if debug_frame_only {
            return info;
        }
        ExplicitModuleSectionInfo {
            eh_frame_svma: self.eh_frame.as_ref().map(|(r, _)| r.clone()),
            eh_frame: self.eh_frame.as_ref().map(|(_, d)| d.clone()),
            eh_frame_hdr_svma: self.eh_frame_hdr.as_ref().map(|(r, _)| r.clone()),
            eh_frame_hdr: self.eh_frame_hdr.as_ref().map(|(_, d)| d.clone()),
            ..info
        }
    }
}

/// A key naming a file by what it is: its build-id, or the path it was
/// opened at with its inode when it has none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum FileKey {
    BuildId(Vec<u8>),
    Inode(u64, u64),
}

struct ProcessUnwinder {
    generation: u64,
    unwinder: UnwinderX86_64<Arc<[u8]>>,
    /// Where its sigreturn trampolines are, sorted.
    trampolines: Vec<u64>,
    /// The address ranges of code that has unwind rules, sorted.
    ruled: Vec<Range<u64>>,
    /// The address ranges of modules that keep no frame pointers, sorted;
    /// read when first asked.
    without_frame_pointers: Option<Vec<Range<u64>>>,
}

impl ProcessUnwinder {
    fn has_rules(&self, address: u64) -> bool {
        within(&self.ruled, address)
    }
}

/// Where the file's addresses `svma` lie in a process that adds `bias` to
/// them, within `bounds`; `None` when nothing of them is.
fn placed(svma: &Range<u64>, bias: u64, bounds: Range<u64>) -> Option<Range<u64>> {
    let avma = svma.start.wrapping_add(bias).max(bounds.start)
        ..svma.end.wrapping_add(bias).min(bounds.end);
    (!avma.is_empty()).then_some(avma)
}

/// The word at `addr` of a stack copy taken at `sp`, if the copy holds it.
pub(crate) fn read_word(stack: &[u8], sp: u64, addr: u64) -> Option<u64> {
    let at = usize::try_from(addr.checked_sub(sp)?).ok()?;
    let bytes = stack.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Whether `address` lies in one of `ranges` (sorted, disjoint).
fn within(ranges: &[Range<u64>], address: u64) -> bool {
    let at = ranges.partition_point(|r| r.start <= address);
    at.checked_sub(1).is_some_and(|i| ranges[i].contains(&address))
}

/// A sample's user stack as far as its copy and the unwind rules reach.
#[derive(Debug, Default)]
pub(crate) struct Unwound {
    /// The ip, then return addresses, each with the stack slot it was read
    /// from (none for the ip and for the ip a signal interrupted).
    pub(crate) frames: Vec<(u64, Option<u64>)>,
    /// Whether it was cut at [`MAX_FRAMES`].
    pub(crate) cut: bool,
    /// Whether a caller was found by frame pointers from code without
    /// unwind rules (JIT code, say): a caller may be missing there.
    pub(crate) guessed: bool,
    /// Whether it ended because the stack went on past the end of the copy.
    pub(crate) ran_out: bool,
}

impl Unwound {
    /// The addresses, leaf first.
    pub(crate) fn addresses(&self) -> Vec<u64> {
        self.frames.iter().map(|(a, _)| *a).collect()
    }
}

/// Unwinds sampled user stacks for every process of a recording.
pub(crate) struct StackUnwinder {
    files: HashMap<FileKey, Arc<UnwindFile>>,
    processes: HashMap<u32, ProcessUnwinder>,
    cache: CacheX86_64,
}

impl StackUnwinder {
    pub(crate) fn new() -> Self {
        StackUnwinder {
            files: HashMap::new(),
            processes: HashMap::new(),
            cache: CacheX86_64::new(),
        }
    }

    /// The user stack of a sample: the ip, then return addresses, as far
    /// as the stack copy and the unwind rules reach, through signal frames.
    pub(crate) fn unwind(
        &mut self,
        pid: u32,
        process: &Process,
        regs: UserRegs,
        stack: &[u8],
    ) -> Unwound {
        self.refresh(pid, process);
        let mut unwound = Unwound { frames: vec![(regs.ip, None)], ..Unwound::default() };
        let Some(entry) = self.processes.get(&pid) else { return unwound };

        let sp = regs.sp;
        let copy_end = sp.saturating_add(stack.len() as u64);
        let past_the_copy = std::cell::Cell::new(false);
        let mut read_stack = |addr: u64| {
            let word = read_word(stack, sp, addr);
            // Just past its end, the stack went on beyond the copy; far
            // off, it is another stack (a signal's alternate stack, a
            // stack switch), which no larger copy would hold.
            let just_past = addr.checked_sub(copy_end).is_some_and(|d| d < 64 * 1024);
            past_the_copy.set(word.is_none() && just_past);
            word.ok_or(())
        };
        let mut unwind_regs = UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp);
        let mut address = FrameAddress::InstructionPointer(regs.ip);
        loop {
            if unwound.frames.len() >= MAX_FRAMES {
                unwound.cut = true;
                break;
            }
            if let FrameAddress::ReturnAddress(ra) = address {
                if entry.trampolines.binary_search(&ra.get()).is_ok() {
                    // A signal handler returns here: the interrupted code's
                    // registers lie right above its return address.
                    let context = unwind_regs.sp();
                    let Some((ip, sp, bp)) = sigframe::interrupted(context, &mut read_stack) else {
                        break;
                    };
                    unwind_regs = UnwindRegsX86_64::new(ip, sp, bp);
                    address = FrameAddress::InstructionPointer(ip);
                    // Return addresses are named from the byte before them;
                    // the trampoline is named from its own first byte
                    // (glibc puts a nop before it for unwinders' sake).
                    if let Some((trampoline, _)) = unwound.frames.last_mut() {
                        *trampoline += 1;
                    }
                    // The interrupted ip is where it stopped, not a return
                    // address: the byte after it is named from it.
                    unwound.frames.push((ip.wrapping_add(1), None));
                    continue;
                }
            }
            let ruled = entry.has_rules(address.address_for_lookup());
            let step = entry.unwinder.unwind_frame(
                address,
                &mut unwind_regs,
                &mut self.cache,
                &mut read_stack,
            );
            let Ok(Some(ra)) = step else {
                unwound.ran_out = step.is_err() && past_the_copy.get();
                break;
            };
            let Some(next) = FrameAddress::from_return_address(ra) else { break };
            unwound.guessed |= !ruled;
            // The caller's frame starts where the return address was pushed.
            unwound.frames.push((ra, unwind_regs.sp().checked_sub(8)));
            address = next;
        }
        unwound
    }

    /// Builds the unwinder of `pid` anew when its mappings changed.
    fn refresh(&mut self, pid: u32, process: &Process) {
        let stale = self.processes.get(&pid).is_none_or(|p| p.generation != process.generation);
        if stale {
            let built = self.build(pid, process);
            self.processes.insert(pid, built);
        }
    }

    /// Whether any of `addresses` of `pid` (return addresses: each is
    /// looked up a byte back) lies in a module that keeps no frame pointers.
    pub(crate) fn any_without_frame_pointers(
        &mut self,
        pid: u32,
        process: &Process,
        addresses: &[u64],
    ) -> bool {
        self.refresh(pid, process);
        let known = self.processes.get(&pid).and_then(|p| p.without_frame_pointers.as_ref());
        if known.is_none() {
            let mut ranges: Vec<Range<u64>> = process
                .mappings()
                .iter()
                .filter(|m| self.keeps_frame_pointers(pid, process, m) == Some(false))
                .map(|m| m.start..m.end)
                .collect();
            ranges.sort_by_key(|r| r.start);
            if let Some(entry) = self.processes.get_mut(&pid) {
                entry.without_frame_pointers = Some(ranges);
            }
        }
        let Some(ranges) = self.processes.get(&pid).and_then(|p| p.without_frame_pointers.as_ref())
        else {
            return false;
        };
        addresses.iter().any(|&a| within(ranges, a.saturating_sub(1)))
    }

    /// Whether `address` of `pid` is a sigreturn trampoline: where a signal
    /// handler returns to.
    pub(crate) fn is_trampoline(&mut self, pid: u32, process: &Process, address: u64) -> bool {
        self.refresh(pid, process);
        self.processes.get(&pid).is_some_and(|p| p.trampolines.binary_search(&address).is_ok())
    }

    /// Whether the file of `mapping` keeps frame pointers; `None` when it
    /// cannot be read (CFI could not help there either).
    pub(crate) fn keeps_frame_pointers(
        &mut self,
        pid: u32,
        process: &Process,
        mapping: &Mapping,
    ) -> Option<bool> {
        self.file(pid, process, mapping).map(|f| f.keeps_frame_pointers())
    }

    /// Why the program at `path`, about to be started, needs stack copies;
    /// `None` when it keeps frame pointers in all its code: a static one
    /// that does. The libraries a dynamic one will load are not known
    /// before it runs.
    pub(crate) fn why_program_needs_copies(path: &std::path::Path) -> Option<String> {
        let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
        let mut magic = [0u8; 4];
        let read = File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
        if read.is_ok() && &magic != b"\x7fELF" {
            return Some(format!(
                "{name} is no ELF binary (a script?): what it runs is not known before it runs"
            ));
        }
        match UnwindFile::load(path, None) {
            None => Some(format!("{name} could not be read")),
            Some(f) if f.interpreter => {
                Some(format!("{name} is dynamic: its libraries are not known before it runs"))
            }
            Some(f) if !f.keeps_frame_pointers() => Some(format!("{name} keeps no frame pointers")),
            Some(_) => None,
        }
    }

    /// Forgets a process that exited.
    pub(crate) fn forget(&mut self, pid: u32) {
        self.processes.remove(&pid);
    }

    fn build(&mut self, pid: u32, process: &Process) -> ProcessUnwinder {
        let mut unwinder = UnwinderX86_64::new();
        let (mut trampolines, mut ruled) = (Vec::new(), Vec::new());
        for mapping in process.mappings() {
            // The kernel's vDSO has no file to read rules from; its few
            // functions are walked by their frame pointers, which they keep.
            if matches!(mapping.kind(), MappingKind::Vdso) {
                ruled.push(mapping.start..mapping.end);
            }
            let Some(file) = self.file(pid, process, mapping) else { continue };
            let Some(bias) = file.bias(mapping) else { continue };
            for module in file.modules(mapping) {
                unwinder.add_module(module);
            }
            trampolines.extend(file.trampolines.iter().map(|t| t.wrapping_add(bias)));
            let within_mapping = mapping.start..mapping.end;
            ruled.extend(
                file.coverage
                    .covered
                    .iter()
                    .filter_map(|r| placed(r, bias, within_mapping.clone())),
            );
        }
        trampolines.sort_unstable();
        ruled.sort_by_key(|r| r.start);
        ProcessUnwinder {
            generation: process.generation,
            unwinder,
            trampolines,
            ruled,
            without_frame_pointers: None,
        }
    }

    fn file(&mut self, pid: u32, process: &Process, mapping: &Mapping) -> Option<Arc<UnwindFile>> {
        if !matches!(mapping.kind(), MappingKind::File | MappingKind::Memfd) {
            return None;
        }
        // The same files, in the same order, the symbolizer reads: the
        // mapped file, the process's root, the host once the process is
        // gone; each checked against the mapping's build-id.
        if let Some(file) =
            mapping.build_id.as_ref().and_then(|id| self.files.get(&FileKey::BuildId(id.clone())))
        {
            return Some(file.clone());
        }
        let candidates = mapped_file_candidates(&super::procs::view(pid, Some(process)), mapping);
        for path in candidates.into_iter().filter(|p| p.is_file()) {
            let key = match &mapping.build_id {
                Some(id) => FileKey::BuildId(id.clone()),
                None => {
                    use std::os::unix::fs::MetadataExt;
                    let Ok(meta) = std::fs::metadata(&path) else { continue };
                    FileKey::Inode(meta.dev(), meta.ino())
                }
            };
            if let Some(file) = self.files.get(&key) {
                return Some(file.clone());
            }
            match UnwindFile::load(&path, mapping.build_id.as_deref()) {
                Some(file) => {
                    let file = Arc::new(file);
                    self.files.insert(key, file.clone());
                    return Some(file);
                }
                None => tracing::debug!(path = %path.display(), "not usable for unwinding"),
            }
        }
        None
    }
}
