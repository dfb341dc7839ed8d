//! `perf record`'s perf.data file, read with the `linux-perf-data` crate.
//!
//! Samples are folded like `perf script` output ([`perf_script`]): the
//! thread's comm as the root, callchains leaf first in the file, the first
//! event kept unless asked otherwise, weights by period or by count.
//! Addresses are named through the mmap records: the symbolizer first, then
//! the ELF symbol tables of the mapped files and `/proc/kallsyms` (see
//! `symbols`); what stays unnamed is `[module]` or `[unknown]`, as in
//! `perf script`. File-level damage (a bad header, sections past the end)
//! is an error; a record that does not parse ends reading with a warning.
//!
//! # Limitations
//!
//! Names come from the files on this host, so a perf.data moved from
//! another machine reads with `[module]` frames. Compressed (zstd) records
//! are not read.

mod symbols;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;

use firebox_model::{Frame, FrameDetail, FrameId, FrameKind, Profile};
use firebox_symbolizer::{Mapping, ProcessView, Source, Symbolizer};
use linux_perf_data::linux_perf_event_reader::{CpuMode, EventRecord};
use linux_perf_data::{PerfFileReader, PerfFileRecord};

use crate::error::{Error, Position};
use crate::formats::perf_script::{self, Weight};
use crate::formats::{read_all, Format};

/// Settings of the perf.data reader: those of the perf script reader.
pub type Options = perf_script::Options;

/// Callchain entries at or above this are context markers, not addresses.
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;
const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;
const PERF_CONTEXT_USER: u64 = -512i64 as u64;

/// Reads a perf.data file from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails, [`Error::Malformed`] when the header or
/// its sections do not fit the file.
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads a perf.data file held in memory; see [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    check_layout(bytes)?;
    let malformed = |e: linux_perf_data::Error| {
        Error::malformed(Format::PerfData, Position::Unknown, format!("cannot read the file: {e}"))
    };
    let PerfFileReader { mut perf_file, mut record_iter } =
        PerfFileReader::parse_file(std::io::Cursor::new(bytes)).map_err(malformed)?;
    let events: Vec<String> = perf_file
        .event_attributes()
        .iter()
        .map(|a| a.name().unwrap_or("event").to_string())
        .collect();

    let mut reader = Collapse::new(options);
    // Build-ids by the path perf recorded, for the frames' details.
    if let Ok(ids) = perf_file.build_ids() {
        for info in ids.into_values() {
            let path = String::from_utf8_lossy(&info.path).into_owned();
            let hex: String = info.build_id.iter().map(|b| format!("{b:02x}")).collect();
            reader.build_ids.insert(path, hex);
        }
    }
    loop {
        let record = match record_iter.next_record(&mut perf_file) {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "stopped at a record that does not parse");
                break;
            }
        };
        let PerfFileRecord::EventRecord { attr_index, record } = record else {
            continue;
        };
        match record.parse() {
            Ok(parsed) => reader.record(parsed, events.get(attr_index).map_or("event", |e| e)),
            Err(e) => tracing::debug!(error = %e, "skipped a record that does not parse"),
        }
    }
    Ok(reader.finish())
}

/// Checks that the header's sections lie inside the file before the parser
/// allocates for them.
fn check_layout(bytes: &[u8]) -> Result<(), Error> {
    let bad = |at: usize, message: &str| {
        Err(Error::malformed(Format::PerfData, Position::Byte(at as u64), message))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    if !bytes.starts_with(b"PERFILE2") {
        return bad(0, "no PERFILE2 magic (only little-endian perf.data files are read)");
    }
    let Some(header_size) = u64_at(8) else {
        return bad(8, "the header is cut short");
    };
    if header_size < 104 || header_size > bytes.len() as u64 {
        return bad(8, "the header size does not fit the file");
    }
    // attrs, data and event-types sections: offset and size each.
    for (i, at) in [16usize, 32, 48].into_iter().enumerate() {
        let (Some(offset), Some(size)) = (u64_at(at + 8), u64_at(at + 16)) else {
            return bad(at, "the header is cut short");
        };
        let end = offset.checked_add(size);
        if i < 2 && end.is_none_or(|end| end > bytes.len() as u64) {
            return bad(at + 8, "a section reaches past the end of the file");
        }
    }
    let data_end = u64_at(40).unwrap_or(0).saturating_add(u64_at(48).unwrap_or(0));
    let features: u32 = (0..4).map(|i| u64_at(72 + 8 * i).unwrap_or(0).count_ones()).sum();
    for i in 0..u64::from(features) {
        let at = data_end.saturating_add(16 * i);
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        let (Some(offset), Some(size)) = (u64_at(at), u64_at(at.saturating_add(8))) else {
            return bad(at, "the feature section table is cut short");
        };
        if offset.checked_add(size).is_none_or(|end| end > bytes.len() as u64) {
            return bad(at, "a feature section reaches past the end of the file");
        }
    }
    Ok(())
}

/// A process's executable mappings, sorted by start address.
#[derive(Default)]
struct Process {
    mappings: Vec<Mapping>,
}

struct Collapse<'o> {
    options: &'o Options,
    profile: Profile,
    comms: HashMap<i32, String>,
    processes: HashMap<i32, Process>,
    symbolizer: Symbolizer,
    symbols: symbols::Symbols,
    names: HashMap<(i32, u64), FrameId>,
    event: Option<String>,
    skipped: BTreeMap<String, usize>,
    periods: BTreeMap<u64, usize>,
    build_ids: HashMap<String, String>,
}

impl<'o> Collapse<'o> {
    fn new(options: &'o Options) -> Self {
        Collapse {
            options,
            profile: Profile::default(),
            comms: HashMap::new(),
            processes: HashMap::new(),
            symbolizer: Symbolizer::new(),
            symbols: symbols::Symbols::default(),
            names: HashMap::new(),
            event: options.event.clone(),
            skipped: BTreeMap::new(),
            periods: BTreeMap::new(),
            build_ids: HashMap::new(),
        }
    }

    fn record(&mut self, record: EventRecord<'_>, event: &str) {
        match record {
            EventRecord::Comm(comm) => {
                let name = String::from_utf8_lossy(&comm.name.as_slice()).into_owned();
                self.comms.insert(comm.tid, name);
            }
            EventRecord::Mmap(m) if m.is_executable => {
                let path = PathBuf::from(String::from_utf8_lossy(&m.path.as_slice()).into_owned());
                self.map(
                    m.pid,
                    Mapping {
                        start: m.address,
                        end: m.address + m.length,
                        file_offset: m.page_offset,
                        path,
                        build_id: None,
                    },
                );
            }
            EventRecord::Mmap2(m) if m.protection & 4 != 0 => {
                let path = PathBuf::from(String::from_utf8_lossy(&m.path.as_slice()).into_owned());
                self.map(
                    m.pid,
                    Mapping {
                        start: m.address,
                        end: m.address + m.length,
                        file_offset: m.page_offset,
                        path,
                        build_id: None,
                    },
                );
            }
            EventRecord::Sample(sample) => {
                let key = perf_script::event_key(event).to_string();
                let kept = match &self.event {
                    _ if self.options.all_events => true,
                    Some(wanted) => perf_script::event_key(wanted) == key,
                    None => {
                        self.event = Some(key.clone());
                        true
                    }
                };
                if !kept {
                    *self.skipped.entry(key).or_default() += 1;
                    return;
                }
                self.profile.meta.sample_type = key;
                let (pid, tid) = (sample.pid.unwrap_or(-1), sample.tid.unwrap_or(-1));
                let period = sample.period.unwrap_or(1);
                *self.periods.entry(period).or_default() += 1;
                let mut addrs = Vec::new();
                match &sample.callchain {
                    Some(chain) => addrs.extend((0..chain.len()).filter_map(|i| chain.get(i))),
                    None => addrs.extend(sample.ip),
                }
                let kernel_ip = matches!(sample.cpu_mode, CpuMode::Kernel);
                self.sample(pid, tid, &addrs, kernel_ip, period);
            }
            _ => {}
        }
    }

    fn map(&mut self, pid: i32, mapping: Mapping) {
        let process = self.processes.entry(pid).or_default();
        process.mappings.retain(|m| m.end <= mapping.start || m.start >= mapping.end);
        let at = process.mappings.partition_point(|m| m.start < mapping.start);
        process.mappings.insert(at, mapping);
    }

    fn sample(&mut self, pid: i32, tid: i32, addrs: &[u64], kernel_ip: bool, period: u64) {
        let comm = self.comms.get(&tid).or_else(|| self.comms.get(&pid)).cloned();
        let comm = comm.unwrap_or_else(|| format!("[pid {pid}]"));
        let root = match (self.options.include_tid, self.options.include_pid) {
            (true, _) => format!("{comm}-{pid}/{tid}"),
            (false, true) => format!("{comm}-{pid}"),
            _ => comm,
        };
        let mut stack = vec![self.profile.intern(Frame::process(root))];
        let mut kernel = kernel_ip;
        let mut frames = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            if addr >= PERF_CONTEXT_MAX {
                kernel = addr == PERF_CONTEXT_KERNEL || (addr != PERF_CONTEXT_USER && kernel);
                continue;
            }
            frames.push(self.frame(pid, addr, kernel));
        }
        stack.extend(frames.iter().rev());
        let weight = match self.options.weight {
            Weight::Period => period,
            Weight::Count => 1,
        };
        self.profile.add(&stack, weight);
    }

    /// The frame for one address, cached per process and address.
    fn frame(&mut self, pid: i32, addr: u64, kernel: bool) -> FrameId {
        let key = (if kernel { -1 } else { pid }, addr);
        if let Some(&id) = self.names.get(&key) {
            return id;
        }
        let (name, kind, module) = if kernel {
            let name =
                self.symbols.kernel(addr).map_or_else(|| "[unknown]".to_string(), str::to_string);
            (name, FrameKind::Kernel, None)
        } else {
            self.user_name(pid, addr)
        };
        let id = self.profile.intern(Frame::new(name, kind));
        if let Some(module) = module {
            let build_id = self.build_ids.get(&module).cloned();
            let detail = FrameDetail { module: Some(module), build_id, ..FrameDetail::default() };
            self.profile.set_detail(id, detail);
        }
        self.names.insert(key, id);
        id
    }

    fn user_name(&mut self, pid: i32, addr: u64) -> (String, FrameKind, Option<String>) {
        let mapping = self.processes.get(&pid).and_then(|p| {
            let at = p.mappings.partition_point(|m| m.start <= addr).checked_sub(1)?;
            let m = &p.mappings[at];
            (addr < m.end).then(|| m.clone())
        });
        let Some(mapping) = mapping else {
            return ("[unknown]".to_string(), FrameKind::Native, None);
        };
        let module = mapping.path.to_string_lossy().into_owned();
        let view = ProcessView { pid: u32::try_from(pid).unwrap_or(0), root: PathBuf::from("/") };
        let resolved = self.symbolizer.user(&view, &mapping, addr);
        let symbol = match resolved.source {
            Source::Unresolved => {
                self.symbols.user(&mapping.path, mapping.file_offset_of(addr)).map(str::to_string)
            }
            _ => resolved.frames.last().map(|f| f.name.clone()),
        };
        let is_jit = module.starts_with("//anon") || module.contains("/tmp/perf-");
        let kind = if module.starts_with("[vdso]") {
            FrameKind::Kernel
        } else if is_jit {
            FrameKind::Jit
        } else {
            FrameKind::Native
        };
        let name = perf_script::tidy_symbol(symbol.as_deref().unwrap_or(""), &module, false);
        (name, kind, Some(module))
    }

    fn finish(mut self) -> Profile {
        for (event, samples) in &self.skipped {
            tracing::warn!(event = %event, samples, "skipped samples of another event; choose the event to keep");
        }
        let event = self.profile.meta.sample_type.clone();
        let clock = event == "cpu-clock" || event == "task-clock";
        self.profile.meta.unit = match self.options.weight {
            Weight::Count => "samples".to_string(),
            Weight::Period if clock => "nanoseconds".to_string(),
            Weight::Period => event,
        };
        if clock && self.options.weight == Weight::Count {
            self.profile.meta.period_ns =
                self.periods.iter().max_by_key(|(_, n)| **n).map(|(p, _)| *p);
        }
        self.profile
    }
}
