//! The [`Symbolizer`]: one entry point per kind of address, sharing caches
//! and counting what it resolved.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use firebox_model::{Frame, FrameKind};
use tracing::{debug, warn};

use crate::cache::BinaryCache;
use crate::kernel::Kallsyms;
use crate::perf_map::{namespace_pid, PerfMap};
use crate::stats::Stats;
use crate::{
    names, Mapping, MappingKind, ModuleFile, ProcessView, Source, Symbolized, SymbolizerConfig,
};

/// How long a missing perf map is not looked for again.
const PERF_MAP_RETRY: Duration = Duration::from_secs(1);

/// The module name kernel frames are counted under when no module holds them.
const KERNEL_MODULE: &str = "[kernel.kallsyms]";

/// Turns sampled addresses into frames, caching what it learns per binary.
///
/// # Limitations
///
/// A `Symbolizer` is not `Send`: create it on the thread that symbolizes.
/// Binaries, once loaded, stay loaded for the symbolizer's life. A
/// perf-map entry is re-read only when an address misses the map, so code
/// a JIT reused is named after its older entry until then.
#[derive(Debug, Default)]
pub struct Symbolizer {
    config: SymbolizerConfig,
    binaries: BinaryCache,
    kallsyms: Option<Kallsyms>,
    perf_maps: HashMap<(u32, PathBuf), PerfMapSlot>,
    stats: Stats,
    modules: BTreeMap<String, ModuleFile>,
}

/// A process's perf map and when it was last missing.
#[derive(Debug)]
struct PerfMapSlot {
    map: Option<PerfMap>,
    missing_since: Option<Instant>,
}

impl Symbolizer {
    /// A symbolizer with empty caches and the default settings.
    pub fn new() -> Self {
        Symbolizer::default()
    }

    /// A symbolizer with empty caches and `config`.
    pub fn with_config(config: SymbolizerConfig) -> Self {
        Symbolizer { config, ..Symbolizer::default() }
    }

    /// The settings in use.
    pub fn config(&self) -> &SymbolizerConfig {
        &self.config
    }

    /// The files each module's names were read from (the first binary of
    /// that name met), for summaries.
    pub fn module_files(&self) -> &BTreeMap<String, ModuleFile> {
        &self.modules
    }

    /// What was symbolized so far, per module and source.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The frames for user-space address `addr` of `process`, which lies in
    /// `mapping`. An address nothing resolves gives `module+0xoffset` (or
    /// `[unknown]` in anonymous memory no perf map covers).
    pub fn user(&mut self, process: &ProcessView, mapping: &Mapping, addr: u64) -> Symbolized {
        if addr < mapping.start || addr >= mapping.end {
            debug!(addr, start = mapping.start, end = mapping.end, "address outside its mapping");
            self.stats.record("[unknown]", Source::Unresolved);
            return Symbolized::unknown();
        }
        let (module, symbolized) = match mapping.kind() {
            MappingKind::File | MappingKind::Memfd => {
                let found = self.binaries.symbolize(process, mapping, addr, &self.config);
                // JITs that map code through a memfd may still list it.
                let found = found.or_else(|| match mapping.kind() {
                    MappingKind::Memfd => self.perf_map_lookup(process, addr),
                    _ => None,
                });
                let unresolved = || {
                    Symbolized::unresolved_in(&mapping.module_name(), mapping.file_offset_of(addr))
                };
                let module = mapping.module_name();
                if !self.modules.contains_key(&module) {
                    if let Some(file) = self.binaries.file_of(process, mapping) {
                        self.modules.insert(module.clone(), file.clone());
                    }
                }
                (module, found.unwrap_or_else(unresolved))
            }
            MappingKind::Vdso => {
                let found = self.binaries.symbolize_vdso(process, mapping, addr, &self.config);
                let unresolved = || Symbolized::unresolved_in("[vdso]", addr - mapping.start);
                ("[vdso]".to_string(), found.unwrap_or_else(unresolved))
            }
            MappingKind::Anon | MappingKind::Special => match self.perf_map_lookup(process, addr) {
                Some(found) => ("[jit]".to_string(), found),
                None => (mapping.module_name(), Symbolized::unknown()),
            },
        };
        self.stats.record(&module, symbolized.source);
        symbolized
    }

    /// Reads `/proc/kallsyms` now rather than at the first kernel frame:
    /// the kernel takes tens of milliseconds of CPU to print it, better
    /// spent before the target runs than during it.
    pub fn load_kernel_symbols(&mut self) {
        if self.kallsyms.is_none() {
            self.kallsyms = Some(load_kallsyms(&self.config));
        }
    }

    /// The frame for kernel address `addr`, from `/proc/kallsyms` (read on
    /// first use); `[unknown]` when no kernel symbol holds it.
    pub fn kernel(&mut self, addr: u64) -> Symbolized {
        let table = self.kallsyms.get_or_insert_with(|| load_kallsyms(&self.config));
        let (module, symbolized) = match table.find(addr) {
            Some(symbol) => (
                symbol.module.map_or(KERNEL_MODULE.to_string(), |m| format!("[{m}]")),
                Symbolized {
                    frames: vec![Frame::kernel(names::clean(symbol.name))],
                    source: Source::Kernel,
                },
            ),
            None => (KERNEL_MODULE.to_string(), Symbolized::unknown_kernel()),
        };
        self.stats.record(&module, symbolized.source);
        symbolized
    }

    /// The JIT frame for `addr` from the process's perf map
    /// (`<root>/tmp/perf-NSPID.map`), for addresses in anonymous memory or
    /// in no mapping at all. The map is read again when the file grew.
    pub fn jit(&mut self, process: &ProcessView, addr: u64) -> Option<Symbolized> {
        let found = self.perf_map_lookup(process, addr);
        match &found {
            Some(symbolized) => self.stats.record("[jit]", symbolized.source),
            None => self.stats.record("[unknown]", Source::Unresolved),
        }
        found
    }

    /// The frame for an address of `process` that lies in no mapping: a JIT
    /// frame when the perf map names it, else `[unknown]`.
    pub fn unmapped(&mut self, process: &ProcessView, addr: u64) -> Symbolized {
        self.jit(process, addr).unwrap_or_else(Symbolized::unknown)
    }

    /// How many distinct binaries (by build-id or file identity) are loaded.
    pub fn loaded_binaries(&self) -> usize {
        self.binaries.len()
    }

    /// Forgets what is known about the mappings and perf map of `pid`, whose
    /// process has exited (the pid may be reused).
    pub fn forget_process(&mut self, pid: u32) {
        self.binaries.forget_process(pid);
        self.perf_maps.retain(|(p, _), _| *p != pid);
    }

    fn perf_map_lookup(&mut self, process: &ProcessView, addr: u64) -> Option<Symbolized> {
        let slot = self
            .perf_maps
            .entry((process.pid, process.root.clone()))
            .or_insert_with(|| PerfMapSlot::new(process));
        let map = slot.map.as_mut()?;
        if map.find(addr).is_none() {
            if slot.missing_since.is_some_and(|t| t.elapsed() < PERF_MAP_RETRY) {
                return None;
            }
            match map.refresh() {
                Ok(()) => slot.missing_since = None,
                Err(error) => {
                    debug!(pid = process.pid, %error, "no perf map");
                    slot.missing_since = Some(Instant::now());
                    return None;
                }
            }
        }
        let name = map.find(addr)?;
        Some(Symbolized {
            frames: vec![Frame::new(names::clean(name), FrameKind::Jit)],
            source: Source::PerfMap,
        })
    }
}

impl PerfMapSlot {
    fn new(process: &ProcessView) -> Self {
        let map = namespace_pid(process.pid)
            .map(|nspid| PerfMap::new(process.root.join(format!("tmp/perf-{nspid}.map"))));
        PerfMapSlot { map, missing_since: None }
    }
}

fn load_kallsyms(config: &SymbolizerConfig) -> Kallsyms {
    match Kallsyms::load(&config.kallsyms) {
        Ok(table) if table.is_hidden() => {
            warn!(path = %config.kallsyms.display(), "kernel addresses are hidden (kptr_restrict); kernel frames stay unknown");
            Kallsyms::default()
        }
        Ok(table) => table,
        Err(error) => {
            warn!(%error, "kernel frames stay unknown");
            Kallsyms::default()
        }
    }
}
