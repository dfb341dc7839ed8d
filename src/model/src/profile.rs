//! Frames, stacks and the profile that holds them.

use std::collections::HashMap;
use std::time::Duration;

/// What kind of code a frame stands for; it picks the frame's colour and its
/// suffix in folded output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameKind {
    /// Compiled native code (C, C++, Rust, Go without more detail).
    #[default]
    Native,
    /// Kernel code, from the kernel's callchain.
    Kernel,
    /// A function the compiler inlined into its caller.
    Inlined,
    /// JIT-compiled code (a perf map entry, a JIT-compiled Java method).
    Jit,
    /// Interpreted code (an interpreted Java method, bytecode).
    Interpreted,
    /// A Java method compiled by the client compiler (C1).
    C1,
    /// Python code.
    Python,
    /// Go code.
    Go,
    /// A synthetic root: the container a process ran in.
    Container,
    /// A synthetic root: a process name.
    Process,
    /// A synthetic node: a thread name under its process.
    Thread,
    /// A synthetic marker such as `[truncated]` or `[unknown]`.
    Marker,
}

/// One frame of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// The function name as a user reads it (demangled, without argument
    /// lists or hash suffixes), or a module+offset when nothing resolved.
    pub name: String,
    /// What kind of code this is.
    pub kind: FrameKind,
}

impl Frame {
    /// A frame of the given kind.
    pub fn new(name: impl Into<String>, kind: FrameKind) -> Self {
        Frame { name: name.into(), kind }
    }

    /// A native code frame.
    pub fn native(name: impl Into<String>) -> Self {
        Frame::new(name, FrameKind::Native)
    }

    /// A kernel frame.
    pub fn kernel(name: impl Into<String>) -> Self {
        Frame::new(name, FrameKind::Kernel)
    }

    /// A process root frame.
    pub fn process(name: impl Into<String>) -> Self {
        Frame::new(name, FrameKind::Process)
    }
}

/// Where a frame's code is, when the source of the profile knows: formats
/// that hold it (pprof, speedscope) carry it along. Frames stay identified
/// by name and kind alone; a detail is an annotation, never a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameDetail {
    /// The source file of the function.
    pub file: Option<String>,
    /// A line in `file` (the function's first line, or one that ran).
    pub line: Option<u32>,
    /// The binary or library (DSO) the code lives in.
    pub module: Option<String>,
    /// The GNU build-id of `module`, in lowercase hex.
    pub build_id: Option<String>,
}

impl FrameDetail {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self == &FrameDetail::default()
    }
}

/// Index of an interned frame in its [`Profile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId(pub u32);

/// What a profile is of: shown in titles and carried into other formats.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// What the profile shows, e.g. `firebox record: ./app (5.0 s)`.
    pub title: Option<String>,
    /// The name of one unit of weight: `samples`, `bytes`, `nanoseconds`.
    pub unit: String,
    /// The sampled event or value type: `cpu-clock`, `alloc_space`.
    pub sample_type: String,
    /// The interval between samples in nanoseconds, when sampling at a fixed
    /// frequency (10 101 010 ns at 99 Hz).
    pub period_ns: Option<u64>,
    /// The wall-clock time the recording covered.
    pub duration: Option<Duration>,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            title: None,
            unit: "samples".to_string(),
            sample_type: "cpu".to_string(),
            period_ns: None,
            duration: None,
        }
    }
}

/// Weighted stacks over interned frames.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// What the profile is of.
    pub meta: Meta,
    frames: Vec<Frame>,
    frame_ids: HashMap<Frame, FrameId>,
    stacks: HashMap<Vec<FrameId>, u64>,
    details: HashMap<FrameId, FrameDetail>,
}

impl Profile {
    /// An empty profile with the given metadata.
    pub fn new(meta: Meta) -> Self {
        Profile { meta, ..Profile::default() }
    }

    /// The id of `frame`, interning it on first sight.
    pub fn intern(&mut self, frame: Frame) -> FrameId {
        if let Some(&id) = self.frame_ids.get(&frame) {
            return id;
        }
        // A profile with more than four billion distinct frames is not one a
        // flame graph can show; saturating keeps the type small.
        let id = FrameId(u32::try_from(self.frames.len()).unwrap_or(u32::MAX));
        self.frames.push(frame.clone());
        self.frame_ids.insert(frame, id);
        id
    }

    /// The frame behind `id`.
    ///
    /// # Panics
    ///
    /// When `id` was not made by this profile's [`Profile::intern`].
    pub fn frame(&self, id: FrameId) -> &Frame {
        &self.frames[id.0 as usize]
    }

    /// Every interned frame, in id order.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Records where the code of frame `id` is. The first detail given for a
    /// frame is kept; later ones only fill what it lacks.
    pub fn set_detail(&mut self, id: FrameId, detail: FrameDetail) {
        if detail.is_empty() {
            return;
        }
        let known = self.details.entry(id).or_default();
        let FrameDetail { file, line, module, build_id } = detail;
        known.file = known.file.take().or(file);
        known.line = known.line.take().or(line);
        known.module = known.module.take().or(module);
        known.build_id = known.build_id.take().or(build_id);
    }

    /// Where the code of frame `id` is, when known.
    pub fn detail(&self, id: FrameId) -> Option<&FrameDetail> {
        self.details.get(&id)
    }

    /// Adds `weight` to the stack of interned frames, root first. Empty
    /// stacks and zero weights are ignored.
    pub fn add(&mut self, stack: &[FrameId], weight: u64) {
        if stack.is_empty() || weight == 0 {
            return;
        }
        match self.stacks.get_mut(stack) {
            Some(w) => *w = w.saturating_add(weight),
            None => {
                self.stacks.insert(stack.to_vec(), weight);
            }
        }
    }

    /// Interns `frames` (root first) and adds `weight` to their stack.
    pub fn add_frames(&mut self, frames: impl IntoIterator<Item = Frame>, weight: u64) {
        let stack: Vec<FrameId> = frames.into_iter().map(|f| self.intern(f)).collect();
        self.add(&stack, weight);
    }

    /// Every distinct stack (root first) with its weight, in no set order.
    pub fn stacks(&self) -> impl Iterator<Item = (&[FrameId], u64)> {
        self.stacks.iter().map(|(s, &w)| (s.as_slice(), w))
    }

    /// The number of distinct stacks.
    pub fn stack_count(&self) -> usize {
        self.stacks.len()
    }

    /// The sum of all weights.
    pub fn total(&self) -> u64 {
        self.stacks.values().fold(0u64, |a, &w| a.saturating_add(w))
    }

    /// True when the profile holds no weight at all.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Adds every stack of `other` into this profile, re-interning its
    /// frames. The metadata of `self` is kept.
    pub fn merge(&mut self, other: &Profile) {
        let map: Vec<FrameId> = other.frames.iter().map(|f| self.intern(f.clone())).collect();
        for (id, detail) in &other.details {
            self.set_detail(map[id.0 as usize], detail.clone());
        }
        for (stack, weight) in other.stacks() {
            let stack: Vec<FrameId> = stack.iter().map(|id| map[id.0 as usize]).collect();
            self.add(&stack, weight);
        }
    }

    /// The frames of a stack, root first.
    pub fn resolve<'a>(&'a self, stack: &'a [FrameId]) -> impl Iterator<Item = &'a Frame> + 'a {
        stack.iter().map(|&id| self.frame(id))
    }
}
