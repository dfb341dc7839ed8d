//! A recording in progress: opening the events, draining the rings, turning
//! records into a profile.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use firebox_model::{Frame, FrameKind, Meta, Profile};
use std::collections::BTreeMap;

use firebox_symbolizer::{ModuleFile, Symbolizer};

use super::events::Event;
use super::open::{Events, Stacks};
use super::procs::{self, list_threads, ProcessTable};
use super::reader::{self, Batch, RingReader};
use super::stacks::{self, Callchain, FrameCounts};
use super::stitch;
use super::sys::HeldChild;
use super::unwind::{self, StackUnwinder, UserRegs};
use super::{CallGraph, Cgroup, Config, Error, Target};
use crate::containers::pids_in;

mod plan;

/// How often [`Recorder::poll`] looks whether the target still runs.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// How the target is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still running.
    Running,
    /// The command ended with this exit code (128 + signal when killed).
    CommandExited(i32),
    /// The process is gone.
    ProcessExited,
    /// Every cgroup target is empty: its processes are gone.
    CgroupsEmpty,
}

/// What a recording has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Samples taken.
    pub samples: u64,
    /// Samples the kernel dropped because a ring buffer was full.
    pub lost: u64,
    /// Distinct processes sampled.
    pub processes: usize,
    /// Distinct threads sampled.
    pub threads: usize,
    /// Frames in all samples (kernel and user).
    pub frames: u64,
    /// Frames that got a name (not a module+offset or `[unknown]`).
    pub frames_symbolized: u64,
    /// Samples whose callchain hit the kernel's depth limit.
    pub truncated: u64,
    /// Samples whose user stack reached its thread's entry point (`_start`,
    /// `start_thread`, `clone3`): stacks known to be whole.
    pub whole_stacks: u64,
    /// Samples that had a user stack at all.
    pub user_stacks: u64,
    /// Samples whose user stack was unwound with CFI from a copy of it.
    pub copied_stacks: u64,
    /// Samples whose stack passed through code without unwind rules (JIT
    /// code, say), whose caller was then found by frame pointers: never
    /// counted whole, as a caller may be missing there.
    pub guessed_stacks: u64,
    /// Samples whose copied stack went on past the end of the copy, so
    /// that it was not unwound to its thread's entry point.
    pub beyond_the_copy: u64,
    /// Samples whose user stack is the kernel's frame-pointer walk, its
    /// first frames mended from the top of the stack where it carried that.
    pub frame_pointer_stacks: u64,
    /// What made `--call-graph auto` turn from frame pointers to stack
    /// copies: the first module seen without frame pointers, or a stack
    /// deeper than the kernel's frame-pointer walk goes.
    pub switched_by: Option<String>,
    /// Why `--call-graph auto` copied stacks from the start: a module
    /// without frame pointers, or a dynamic program.
    pub copies_from_start: Option<String>,
}

impl Stats {
    /// The share of frames that got a name, 0 to 1.
    pub fn symbolized_share(&self) -> f64 {
        if self.frames == 0 {
            return 0.0;
        }
        self.frames_symbolized as f64 / self.frames as f64
    }

    /// The share of samples with a user stack whose stack reached its
    /// thread's entry point, 0 to 1.
    pub fn whole_share(&self) -> f64 {
        if self.user_stacks == 0 {
            return 0.0;
        }
        self.whole_stacks as f64 / self.user_stacks as f64
    }
}

/// A finished recording.
#[derive(Debug)]
pub struct Recording {
    /// The stacks sampled, weighted by sample count.
    pub profile: Profile,
    /// What was seen.
    pub stats: Stats,
    /// How many addresses of each module got names, and from where.
    pub symbols: firebox_symbolizer::Stats,
    /// The files each module's names were read from.
    pub module_files: BTreeMap<String, ModuleFile>,
}

/// A recording in progress.
pub struct Recorder {
    config: Config,
    events: Events,
    child: Option<HeldChild>,
    pid: Option<u32>,
    procs: ProcessTable,
    symbolizer: Symbolizer,
    /// The thread emptying the rings, once they are all open.
    reader: Option<RingReader>,
    pending: Vec<Event>,
    /// Every record stamped up to this time has been received.
    drained_until: u64,
    /// When the target's state was last looked at.
    checked: Option<Instant>,
    profile: Profile,
    stats: Stats,
    counts: FrameCounts,
    pids: HashSet<u32>,
    tids: HashSet<u32>,
    unwinder: StackUnwinder,
    cgroups: Vec<CgroupState>,
    /// The cgroup target each process was seen in.
    pid_cgroup: HashMap<u32, usize>,
}

/// A cgroup being sampled.
struct CgroupState {
    target: Cgroup,
    /// Its rings in [`Events::rings`].
    rings: Range<usize>,
    /// Its group of events.
    group: usize,
    /// When it was found empty.
    emptied: Option<Instant>,
}

impl Recorder {
    /// Opens the events on `target` and starts sampling.
    ///
    /// # Errors
    ///
    /// When the process does not exist, the command is not found or cannot
    /// start, or the kernel refuses the events (see [`Error::Permission`]).
    pub fn start(target: &Target, config: &Config) -> Result<Recorder, Error> {
        Recorder::start_with(target, config, Symbolizer::new())
    }

    /// Like [`Recorder::start`], naming frames with `symbolizer` (set up
    /// with debug directories or finders of debug files).
    ///
    /// # Errors
    ///
    /// As [`Recorder::start`].
    pub fn start_with(
        target: &Target,
        config: &Config,
        symbolizer: Symbolizer,
    ) -> Result<Recorder, Error> {
        let meta = Meta {
            unit: "samples".to_string(),
            sample_type: "cpu-clock".to_string(),
            period_ns: Some(1_000_000_000 / config.frequency.max(1)),
            ..Meta::default()
        };
        let mut recorder = Recorder {
            config: config.clone(),
            events: Events::new(),
            child: None,
            pid: None,
            procs: ProcessTable::default(),
            symbolizer,
            reader: None,
            pending: Vec::new(),
            drained_until: 0,
            checked: None,
            profile: Profile::new(meta),
            stats: Stats::default(),
            counts: FrameCounts::default(),
            pids: HashSet::new(),
            tids: HashSet::new(),
            cgroups: Vec::new(),
            pid_cgroup: HashMap::new(),
            unwinder: StackUnwinder::new(),
        };
        match target {
            Target::Pid(pid) => recorder.attach(*pid)?,
            Target::Command(argv) => recorder.spawn(argv)?,
            Target::Cgroups(cgroups) => recorder.attach_cgroups(cgroups)?,
        }
        let rings = std::mem::take(&mut recorder.events.rings);
        let tick = if recorder.events.on_standby(None, Stacks::Copy) {
            reader::TICK_STANDBY
        } else {
            reader::TICK
        };
        recorder.reader = Some(RingReader::start(rings, tick).map_err(Error::Ring)?);
        Ok(recorder)
    }

    /// The host pid of the target process (the command's pid once started).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn attach(&mut self, pid: u32) -> Result<(), Error> {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(Error::NoSuchProcess(pid));
        }
        if !is_alive(pid) {
            return Err(Error::Zombie(pid));
        }
        self.pid = Some(pid);
        self.procs.load_from_proc(pid);
        let group = self.plan(&format!("pid {pid}"), |r| r.needs_copies(&[pid]));

        // Threads may start while we attach: open new ones until a pass
        // finds none; from then on `inherit` follows what they create.
        let mut attached = HashSet::new();
        let mut opened = 0;
        loop {
            let tids = list_threads(pid);
            if tids.is_empty() && attached.is_empty() {
                return Err(Error::NoSuchProcess(pid));
            }
            let new: Vec<u32> = tids.into_iter().filter(|t| !attached.contains(t)).collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                match self.events.open_thread(group, tid, &self.config, false) {
                    // The thread ended between listing and opening, or it is
                    // a main thread that exited while the others work on.
                    Err(Error::NoSuchProcess(_)) => {}
                    Err(e) => return Err(e),
                    Ok(()) => opened += 1,
                }
                attached.insert(tid);
            }
        }
        if opened == 0 {
            return Err(Error::NoSuchProcess(pid));
        }
        self.preload();
        self.events.enable().map_err(Error::Enable)?;
        tracing::info!(pid, threads = opened, "attached");
        Ok(())
    }

    /// Opens events on each cgroup. Processes already in them get their
    /// mappings from /proc; those that join later announce theirs through
    /// comm, fork and mmap records, which cgroup events carry too.
    fn attach_cgroups(&mut self, cgroups: &[Cgroup]) -> Result<(), Error> {
        let mut found = Vec::new();
        for cgroup in cgroups {
            let dir = std::fs::File::open(&cgroup.dir).map_err(|source| Error::CgroupDir {
                name: cgroup.name.clone(),
                dir: cgroup.dir.clone(),
                source,
            })?;
            let pids = pids_in(&cgroup.dir);
            if pids.is_empty() {
                return Err(Error::EmptyCgroup(cgroup.name.clone()));
            }
            for pid in &pids {
                self.procs.load_from_proc(*pid);
                self.pid_cgroup.insert(*pid, found.len());
            }
            found.push((cgroup, dir, pids));
        }
        // Each cgroup goes its own way: one whose modules all keep frame
        // pointers is walked by them while another copies stacks.
        for (cgroup, dir, pids) in found {
            let group = self.plan(&cgroup.name, |r| r.needs_copies(&pids));
            let rings = self.events.open_cgroup(group, &dir, &cgroup.name, &self.config)?;
            tracing::info!(cgroup = %cgroup.dir.display(), processes = pids.len(), "attached");
            self.cgroups.push(CgroupState { target: cgroup.clone(), rings, group, emptied: None });
        }
        self.events.enable().map_err(Error::Enable)
    }

    /// The names of the cgroup targets found empty so far, with the time
    /// each was noticed.
    pub fn emptied_cgroups(&self) -> impl Iterator<Item = (&str, Instant)> {
        self.cgroups.iter().filter_map(|c| Some((c.target.name.as_str(), c.emptied?)))
    }

    fn spawn(&mut self, argv: &[OsString]) -> Result<(), Error> {
        let program = argv.first().ok_or_else(|| Error::CommandNotFound(String::new()))?;
        let shown = program.to_string_lossy().into_owned();
        let path = find_program(program).ok_or_else(|| why_not_runnable(program, &shown))?;
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::CommandNotFound(shown.clone()))?;
        let c_argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::CommandNotFound(shown.clone()))?;

        let group = self.plan(&shown, |_| StackUnwinder::why_program_needs_copies(&path));
        let mut child = HeldChild::spawn(&c_path, &c_argv)
            .map_err(|source| Error::Spawn { command: shown.clone(), source })?;
        // The events count from the child's exec on; until the child is
        // released it runs nothing worth sampling.
        self.events.open_thread(group, child.pid, &self.config, true)?;
        self.preload();
        child.release().map_err(|source| Error::Spawn { command: shown, source })?;
        self.pid = Some(child.pid);
        tracing::info!(pid = child.pid, "started command");
        self.child = Some(child);
        Ok(())
    }

    /// Work better done before the target runs than during it, once the
    /// events are open (so a refused recording says only that).
    fn preload(&mut self) {
        if self.config.kernel {
            self.symbolizer.load_kernel_symbols();
        }
    }

    /// Processes every record the ring reader has handed over, up to the
    /// moment its last pass over the rings began. Records stamped later
    /// wait for the next call, so that records from other CPUs' rings that
    /// happened before them are processed first.
    ///
    /// # Errors
    ///
    /// When waiting for the command fails.
    pub fn poll(&mut self) -> Result<Status, Error> {
        let batches: Vec<Batch> = self.reader.iter().flat_map(RingReader::ready).collect();
        for batch in batches {
            self.take(batch);
        }
        self.process_until(self.drained_until);

        if let Some(child) = &mut self.child {
            return match child.try_wait() {
                Ok(status) => Ok(status.map_or(Status::Running, Status::CommandExited)),
                // Started with SIGCHLD ignored, firebox has its child reaped
                // by the kernel: gone, with no exit code to tell.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(Status::ProcessExited),
                Err(source) => Err(Error::Spawn { command: "the command".into(), source }),
            };
        }
        // Reading /proc costs the kernel more than anything else a poll
        // does: a process's or a cgroup's state is looked at twice a second.
        if self.checked.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
            return Ok(Status::Running);
        }
        self.checked = Some(Instant::now());
        if !self.cgroups.is_empty() {
            for cgroup in self.cgroups.iter_mut().filter(|c| c.emptied.is_none()) {
                if pids_in(&cgroup.target.dir).is_empty() {
                    cgroup.emptied = Some(Instant::now());
                }
            }
            if self.cgroups.iter().all(|c| c.emptied.is_some()) {
                return Ok(Status::CgroupsEmpty);
            }
            return Ok(Status::Running);
        }
        match self.pid {
            Some(pid) if !is_alive(pid) => Ok(Status::ProcessExited),
            _ => Ok(Status::Running),
        }
    }

    /// Waits until the rings have given something to process, or `timeout`
    /// passes.
    pub fn wait(&mut self, timeout: std::time::Duration) {
        if let Some(batch) = self.reader.as_ref().and_then(|r| r.next(timeout)) {
            self.take(batch);
        } else if self.reader.is_none() {
            std::thread::sleep(timeout);
        }
    }

    /// What was seen so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.processes = self.pids.len();
        stats.threads = self.tids.len();
        stats.frames = self.counts.total;
        stats.frames_symbolized = self.counts.symbolized;
        stats
    }

    /// Stops sampling, processes what is left in the rings and returns the
    /// profile.
    pub fn finish(mut self) -> Recording {
        self.events.disable();
        let batches = self.reader.as_mut().map(RingReader::stop).unwrap_or_default();
        for batch in batches {
            self.take(batch);
        }
        self.process_until(u64::MAX);
        let stats = self.stats();
        if let Some(mut child) = self.child.take() {
            // A command still running when the recording ends (its duration
            // is up, or Ctrl-C reached only firebox) is ours to stop.
            if let Ok(None) = child.try_wait() {
                tracing::warn!(
                    pid = child.pid,
                    "the recording ended before the command: stopping it"
                );
                child.terminate();
                // A moment to end; one that ignores SIGTERM is left running,
                // and said so.
                let ended = (0..25).any(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    !matches!(child.try_wait(), Ok(None))
                });
                if !ended {
                    tracing::warn!(
                        pid = child.pid,
                        "the command did not end on SIGTERM and runs on"
                    );
                }
            }
        }
        Recording {
            profile: self.profile,
            stats,
            symbols: self.symbolizer.stats().clone(),
            module_files: self.symbolizer.module_files().clone(),
        }
    }

    /// Queues the events of `batch` for processing.
    fn take(&mut self, batch: Batch) {
        self.drained_until = self.drained_until.max(batch.drained_at);
        for (ring, mut event) in batch.events {
            if let Event::Sample { stacks, .. } = &mut event {
                *stacks = self.events.stacks_of(ring);
            }
            let cgroup = self.cgroups.iter().position(|c| c.rings.contains(&ring));
            if let (Some(cgroup), Some(pid)) = (cgroup, event.pid()) {
                self.pid_cgroup.insert(pid, cgroup);
            }
            self.pending.push(event);
        }
    }

    fn process_until(&mut self, cutoff: u64) {
        self.pending.sort_by_key(Event::time);
        let ready = self.pending.partition_point(|e| e.time() <= cutoff);
        let rest = self.pending.split_off(ready);
        let ready = std::mem::replace(&mut self.pending, rest);
        // A main thread may exit while the others work on, and the process
        // then has no /proc/PID/root of its own: looked at once per pass
        // before the pass's samples are unwound and named (its exit record
        // goes to the exiting thread's own events, which end with it, so it
        // cannot be waited for).
        let sampled: HashSet<u32> = ready
            .iter()
            .filter_map(|e| match e {
                Event::Sample { pid, .. } => Some(*pid),
                _ => None,
            })
            .collect();
        for pid in sampled {
            self.procs.check_root(pid);
        }
        for event in ready {
            self.process(event);
        }
    }

    fn process(&mut self, event: Event) {
        match event {
            Event::Sample { pid, tid, callchain, user, stacks, .. } => {
                self.sample(pid, tid, &callchain, user, stacks)
            }
            Event::Mmap { pid, mapping, .. } => {
                if self.events.on_standby(Some(self.group_of(pid)), Stacks::Copy) {
                    self.check_frame_pointers(pid, &mapping);
                }
                self.procs.entry(pid).map(mapping)
            }
            Event::Comm { pid, tid, name, exec, .. } => {
                let process = self.procs.entry(pid);
                if exec {
                    process.clear_mappings();
                    process.threads.clear();
                }
                if tid == pid {
                    process.name = name.clone();
                }
                process.threads.insert(tid, name);
            }
            Event::Fork { pid, ppid, tid, ptid, .. } => {
                if pid == tid && pid != ppid {
                    self.procs.fork(ppid, pid);
                }
                // A new task is named as the thread that started it, until
                // a comm record renames it.
                let name = self.procs.get(ppid).and_then(|p| p.threads.get(&ptid)).cloned();
                let process = self.procs.entry(pid);
                if let Some(name) = name.or_else(|| (pid == ppid).then(|| process.name.clone())) {
                    if pid == tid && pid != ppid {
                        process.name = name.clone();
                    }
                    process.threads.insert(tid, name);
                }
            }
            Event::Exit { pid, tid, .. } => {
                if pid == tid {
                    self.unwinder.forget(pid);
                }
            }
            Event::Lost { count, time, .. } => {
                tracing::debug!(count, time, "lost records");
                self.stats.lost += count
            }
        }
    }

    fn sample(
        &mut self,
        pid: u32,
        tid: u32,
        raw: &[u64],
        user: Option<(UserRegs, Vec<u8>)>,
        stacks: Stacks,
    ) {
        // pid 0 is the idle task: the event only counts the target's
        // threads, so such a record is noise.
        if pid == 0 {
            return;
        }
        self.stats.samples += 1;
        self.pids.insert(pid);
        self.tids.insert(tid);

        let mut chain = Callchain::parse(raw);
        let mut guessed = false;
        let mut ran_out = false;
        // Where the kernel's frame-pointer walk starts in the user stack.
        let mut from_walk = (stacks != Stacks::Copy).then_some(1);
        if let Some((regs, stack)) = user {
            let process = self.procs.entry(pid);
            if !process.maps_read && process.mapping(regs.ip).is_none() {
                self.procs.load_from_proc(pid);
            }
            if let Some(process) = self.procs.get(pid) {
                let unwound = self.unwinder.unwind(pid, process, regs, &stack);
                guessed = unwound.guessed;
                ran_out = unwound.ran_out && stacks == Stacks::Copy;
                if stacks == Stacks::Copy {
                    chain.user = unwound.addresses();
                    chain.truncated = unwound.cut;
                    self.stats.copied_stacks += 1;
                } else {
                    let read = |addr| unwind::read_word(&stack, regs.sp, addr);
                    let (user, walk) = stitch::stitch(&unwound, &chain.user, regs.bp, read);
                    chain.user = user;
                    from_walk = Some(walk);
                }
            }
        }
        // A frame-pointer walk through a function that keeps no frame
        // pointer skips that function's caller: the stack may miss a frame.
        let mut skipped = from_walk.is_some_and(|from| {
            let walked = chain.user.get(from.saturating_sub(1)..).unwrap_or_default();
            let (unwinder, procs) = (&mut self.unwinder, &self.procs);
            walked_through_code_without_frame_pointers(unwinder, procs, pid, walked)
        });
        // A walk through a signal frame goes on from the handler's saved
        // frame pointer and skips the function the signal interrupted. The
        // trampoline is named from its own first byte, not the one before.
        if let (Some(from), Some(process)) = (from_walk, self.procs.get(pid)) {
            for address in chain.user.iter_mut().skip(from) {
                if self.unwinder.is_trampoline(pid, process, *address) {
                    *address += 1;
                    skipped = true;
                }
            }
        }
        if stacks != Stacks::Copy && !chain.user.is_empty() {
            self.stats.frame_pointer_stacks += 1;
        }
        // The kernel stops its walk at kernel.perf_event_max_stack frames;
        // a stack copy goes as deep as its bytes.
        if stacks == Stacks::Top
            && chain.truncated
            && self.events.on_standby(Some(self.group_of(pid)), Stacks::Copy)
        {
            let why =
                format!("a stack deeper than the kernel walks ({} frames)", stacks::MAX_STACK);
            self.turn_to_copies(pid, why);
        }
        if chain.truncated {
            self.stats.truncated += 1;
        }
        if !chain.user.is_empty() {
            self.stats.user_stacks += 1;
        }
        let (body, whole) =
            stacks::resolve(&chain, pid, &mut self.procs, &mut self.symbolizer, &mut self.counts);
        // A caller found by frame pointers from code without unwind rules
        // may hide another: such a stack is not known to be whole.
        if guessed {
            self.stats.guessed_stacks += 1;
        } else if whole && !skipped {
            self.stats.whole_stacks += 1;
        } else if ran_out {
            self.stats.beyond_the_copy += 1;
        }

        let process = self.procs.entry(pid);
        let mut frames = Vec::with_capacity(body.len() + 3);
        if let Some(cgroup) = self.pid_cgroup.get(&pid).and_then(|&i| self.cgroups.get(i)) {
            frames.push(Frame::new(cgroup.target.name.clone(), FrameKind::Container));
        }
        frames.push(Frame::process(process.name.clone()));
        if self.config.per_thread {
            // A thread running since before the recording began is named
            // from /proc once; later ones by their fork and comm records.
            let name = match process.threads.entry(tid) {
                std::collections::hash_map::Entry::Occupied(e) => Some(e.get().clone()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    procs::read_comm(pid, tid).map(|name| e.insert(name).clone())
                }
            };
            frames.push(Frame::new(
                name.unwrap_or_else(|| format!("[tid {tid}]")),
                FrameKind::Thread,
            ));
        }
        frames.extend(body);
        self.profile.add_frames(frames, 1);
    }
}

/// Whether any of `frames` (a frame-pointer walk, but for its last frame,
/// whose caller is not looked for) lies in a module that keeps no frame
/// pointers.
fn walked_through_code_without_frame_pointers(
    unwinder: &mut StackUnwinder,
    procs: &ProcessTable,
    pid: u32,
    frames: &[u64],
) -> bool {
    let Some(process) = procs.get(pid) else { return false };
    let Some((_, callees)) = frames.split_last() else { return false };
    unwinder.any_without_frame_pointers(pid, process, callees)
}

/// Whether `pid` still runs: one of its threads exists and is not a zombie.
/// A main thread that has called `pthread_exit` is a zombie while the other
/// threads work on.
fn is_alive(pid: u32) -> bool {
    list_threads(pid).into_iter().any(|tid| {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
            return false;
        };
        // The state letter follows the parenthesised comm, which may hold
        // spaces.
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
        !matches!(state, Some('Z' | 'X' | 'x') | None)
    })
}

/// Why `program`, which [`find_program`] did not find, cannot run.
fn why_not_runnable(program: &OsStr, shown: &str) -> Error {
    let path = Path::new(program);
    if !program.as_bytes().contains(&b'/') || !path.exists() {
        return Error::CommandNotFound(shown.to_string());
    }
    let errno = if path.is_dir() { libc::EISDIR } else { libc::EACCES };
    Error::Spawn { command: shown.to_string(), source: std::io::Error::from_raw_os_error(errno) }
}

/// Where `program` is: itself when it names a path, else the first
/// executable of that name on `PATH`.
fn find_program(program: &OsStr) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return is_exec(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_exec(p))
}
