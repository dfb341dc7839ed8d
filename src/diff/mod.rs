//! Differential profiles: what changed between a base and a head profile.
//!
//! [`ProfileDiff`] lines the stacks of two [`Profile`]s up by their folded
//! frame names: the union of both sides, a stack missing on one side counting
//! zero there. From it, [`ProfileDiff::functions`] sums every function's self
//! and total weight on each side, [`report::Report`] tests which shares moved
//! by more than sampling noise, [`summary`] writes that for a pull request or a
//! machine, and [`svg`] draws the differential flame graph through inferno.
//!
//! ```
//! use firebox::diff::{DiffOptions, ProfileDiff};
//! use firebox::{Frame, Profile};
//!
//! let mut base = Profile::default();
//! base.add_frames([Frame::process("app"), Frame::native("parse")], 50);
//! base.add_frames([Frame::process("app"), Frame::native("legacy_path")], 30);
//! let mut head = Profile::default();
//! head.add_frames([Frame::process("app"), Frame::native("parse")], 40);
//! head.add_frames([Frame::process("app"), Frame::native("fast_path")], 35);
//!
//! let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
//! assert_eq!(
//!     diff.two_column_lines(),
//!     ["app;fast_path 0 35", "app;legacy_path 30 0", "app;parse 50 40"]
//! );
//! ```
//!
//! Stacks are matched by frame *name* (with its kind suffix, as in folded
//! text), so profiles from different tools and runs line up; addresses that
//! differ from run to run only match with [`DiffOptions::strip_hex`].

pub mod report;
pub mod stats;
pub mod summary;
pub mod svg;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;

use firebox_model::{folded_frame_name, Meta, Profile};

/// Errors from diffing two profiles and writing the result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// One side holds no samples, so it has no shares to compare.
    #[error("the {0} profile holds no samples")]
    Empty(Side),
    /// The sides weigh different things (samples against bytes, say).
    #[error(
        "the base profile weighs {base} but the head profile weighs {head}; \
         diff two profiles of the same kind"
    )]
    UnitMismatch {
        /// The base profile's unit.
        base: String,
        /// The head profile's unit.
        head: String,
    },
    /// A significance test was needed, but the weights are not sample counts.
    #[error("telling a change from noise needs sample counts, but the profiles weigh {0}")]
    NotCounts(String),
    /// inferno or the writer failed.
    #[error("failed to write the {0}")]
    Write(&'static str, #[source] io::Error),
}

/// Which of the two profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The profile before the change.
    Base,
    /// The profile after the change.
    Head,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Head => "head",
        })
    }
}

/// How two profiles are lined up.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Replace hex addresses such as `0x234f2abc` in frame names with
    /// `0x...` on both sides, so frames that differ only in where their code
    /// was loaded match each other.
    pub strip_hex: bool,
}

/// Index of a frame name in its [`ProfileDiff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameId(u32);

/// One stack of the union, with its weight on each side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackDiff {
    /// The stack's frame names, root first.
    pub frames: Vec<NameId>,
    /// Its weight in the base profile (0 when only the head has it).
    pub base: u64,
    /// Its weight in the head profile (0 when only the base has it).
    pub head: u64,
}

/// Whether a function (or stack) was seen on both sides or on one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Presence {
    /// Seen in both profiles.
    Both,
    /// Seen only in the head profile: new code, or code newly reached.
    New,
    /// Seen only in the base profile: gone from the head.
    Gone,
}

impl Presence {
    /// The presence of something weighing `base` and `head`.
    pub fn of(base: u64, head: u64) -> Presence {
        match (base, head) {
            (0, _) => Presence::New,
            (_, 0) => Presence::Gone,
            _ => Presence::Both,
        }
    }

    /// `both`, `new` or `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Both => "both",
            Presence::New => "new",
            Presence::Gone => "gone",
        }
    }
}

/// A function's weight on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionDiff {
    /// The frame name as in folded text.
    pub name: String,
    /// Base weight of stacks that end in this function.
    pub base_self: u64,
    /// Head weight of stacks that end in this function.
    pub head_self: u64,
    /// Base weight of stacks that hold this function anywhere, each stack
    /// counted once however often the function recurs in it.
    pub base_total: u64,
    /// Head weight of stacks that hold this function anywhere.
    pub head_total: u64,
}

impl FunctionDiff {
    /// Whether the function ran in both profiles or in one only.
    pub fn presence(&self) -> Presence {
        Presence::of(self.base_total, self.head_total)
    }
}

/// The stacks of a base and a head profile side by side.
#[derive(Clone, Debug)]
pub struct ProfileDiff {
    names: Vec<String>,
    stacks: Vec<StackDiff>,
    base_total: u64,
    head_total: u64,
    base_meta: Meta,
    head_meta: Meta,
}

impl ProfileDiff {
    /// Lines `base` and `head` up stack by stack.
    ///
    /// # Errors
    ///
    /// [`DiffError::Empty`] when either side holds no samples,
    /// [`DiffError::UnitMismatch`] when the two weigh different units.
    pub fn new(
        base: &Profile,
        head: &Profile,
        options: &DiffOptions,
    ) -> Result<ProfileDiff, DiffError> {
        if base.is_empty() {
            return Err(DiffError::Empty(Side::Base));
        }
        if head.is_empty() {
            return Err(DiffError::Empty(Side::Head));
        }
        if base.meta.unit != head.meta.unit {
            return Err(DiffError::UnitMismatch {
                base: base.meta.unit.clone(),
                head: head.meta.unit.clone(),
            });
        }

        let mut builder = Builder { options, names: Vec::new(), ids: HashMap::new() };
        let mut union: HashMap<Vec<NameId>, (u64, u64)> = HashMap::new();
        for (profile, side) in [(base, Side::Base), (head, Side::Head)] {
            let map: Vec<NameId> =
                profile.frames().iter().map(|f| builder.intern(&folded_frame_name(f))).collect();
            for (stack, weight) in profile.stacks() {
                let names: Vec<NameId> = stack.iter().map(|id| map[id.0 as usize]).collect();
                let counts = union.entry(names).or_default();
                let slot = match side {
                    Side::Base => &mut counts.0,
                    Side::Head => &mut counts.1,
                };
                *slot = slot.saturating_add(weight);
            }
        }

        // Sorting frame by frame keeps every subtree's stacks together and
        // makes each output the same bytes for the same inputs.
        let names = builder.names;
        let mut stacks: Vec<StackDiff> = union
            .into_iter()
            .map(|(frames, (base, head))| StackDiff { frames, base, head })
            .collect();
        stacks.sort_unstable_by(|a, b| {
            let a = a.frames.iter().map(|id| &names[id.0 as usize]);
            let b = b.frames.iter().map(|id| &names[id.0 as usize]);
            a.cmp(b)
        });

        Ok(ProfileDiff {
            names,
            stacks,
            base_total: base.total(),
            head_total: head.total(),
            base_meta: base.meta.clone(),
            head_meta: head.meta.clone(),
        })
    }

    /// The frame name behind `id`.
    pub fn name(&self, id: NameId) -> &str {
        &self.names[id.0 as usize]
    }

    /// The union of both sides' stacks, sorted frame by frame.
    pub fn stacks(&self) -> &[StackDiff] {
        &self.stacks
    }

    /// The total weight of one side.
    pub fn total(&self, side: Side) -> u64 {
        match side {
            Side::Base => self.base_total,
            Side::Head => self.head_total,
        }
    }

    /// The metadata of one side.
    pub fn meta(&self, side: Side) -> &Meta {
        match side {
            Side::Base => &self.base_meta,
            Side::Head => &self.head_meta,
        }
    }

    /// The stack as folded text, `root;...;leaf`.
    pub fn folded_stack(&self, stack: &StackDiff) -> String {
        let mut out = String::new();
        for (i, &id) in stack.frames.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            out.push_str(self.name(id));
        }
        out
    }

    /// The union as two-column folded lines, `stack BASE HEAD` with raw
    /// weights, the form `difffolded.pl` and `inferno-diff-folded` write.
    pub fn two_column_lines(&self) -> Vec<String> {
        self.stacks
            .iter()
            .map(|s| format!("{} {} {}", self.folded_stack(s), s.base, s.head))
            .collect()
    }

    /// Every function's self and total weight on both sides, sorted by name.
    pub fn functions(&self) -> Vec<FunctionDiff> {
        let mut sums: Vec<FunctionDiff> = self
            .names
            .iter()
            .map(|name| FunctionDiff {
                name: name.clone(),
                base_self: 0,
                head_self: 0,
                base_total: 0,
                head_total: 0,
            })
            .collect();

        // A recursive function appears several times in one stack but its
        // total counts each sample once: remember which stack saw it last.
        let mut seen_in: Vec<usize> = vec![usize::MAX; self.names.len()];
        for (i, stack) in self.stacks.iter().enumerate() {
            for &id in &stack.frames {
                let idx = id.0 as usize;
                if seen_in[idx] == i {
                    continue;
                }
                seen_in[idx] = i;
                sums[idx].base_total += stack.base;
                sums[idx].head_total += stack.head;
            }
            if let Some(&leaf) = stack.frames.last() {
                sums[leaf.0 as usize].base_self += stack.base;
                sums[leaf.0 as usize].head_self += stack.head;
            }
        }

        sums.retain(|f| f.base_total > 0 || f.head_total > 0);
        sums.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        sums
    }
}

/// Interns folded frame names across both profiles.
struct Builder<'a> {
    options: &'a DiffOptions,
    names: Vec<String>,
    ids: HashMap<String, NameId>,
}

impl Builder<'_> {
    fn intern(&mut self, name: &str) -> NameId {
        let name = if self.options.strip_hex { strip_hex(name) } else { Cow::Borrowed(name) };
        if let Some(&id) = self.ids.get(name.as_ref()) {
            return id;
        }
        // More than four billion distinct names cannot come from two
        // profiles that fit in memory.
        let id = NameId(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.names.push(name.to_string());
        self.ids.insert(name.into_owned(), id);
        id
    }
}

/// Replaces every `0x` followed by hex digits with `0x...`.
pub fn strip_hex(name: &str) -> Cow<'_, str> {
    if !name.contains("0x") {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at + 2]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits > 0 {
            out.push_str("...");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebox_model::{Frame, FrameKind};

    fn profile(lines: &[(&[&str], u64)]) -> Profile {
        let mut p = Profile::default();
        for (frames, weight) in lines {
            p.add_frames(frames.iter().map(|n| Frame::native(*n)), *weight);
        }
        p
    }

    #[test]
    fn union_counts_a_missing_side_as_zero() {
        let base = profile(&[(&["app", "main", "parse"], 50), (&["app", "main", "old"], 30)]);
        let head = profile(&[(&["app", "main", "parse"], 40), (&["app", "main", "new"], 35)]);
        let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        assert_eq!(
            diff.two_column_lines(),
            ["app;main;new 0 35", "app;main;old 30 0", "app;main;parse 50 40"]
        );
        assert_eq!((diff.total(Side::Base), diff.total(Side::Head)), (80, 75));
    }

    #[test]
    fn recursion_counts_once_in_total() {
        let base = profile(&[(&["main", "walk", "walk", "walk"], 4), (&["main", "walk"], 1)]);
        let head = profile(&[(&["main", "other"], 2)]);
        let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        let walk = diff.functions().into_iter().find(|f| f.name == "walk").unwrap();
        assert_eq!(
            walk,
            FunctionDiff {
                name: "walk".into(),
                base_self: 5,
                head_self: 0,
                base_total: 5,
                head_total: 0
            }
        );
        assert_eq!(walk.presence(), Presence::Gone);
    }

    #[test]
    fn kind_suffix_keeps_kernel_and_user_functions_apart() {
        let mut base = Profile::default();
        base.add_frames([Frame::native("app"), Frame::native("read")], 3);
        let mut head = Profile::default();
        head.add_frames([Frame::native("app"), Frame::new("read", FrameKind::Kernel)], 3);
        let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        assert_eq!(diff.two_column_lines(), ["app;read 3 0", "app;read_[k] 0 3"]);
    }

    #[test]
    fn hex_addresses_match_only_when_stripped() {
        let base = profile(&[(&["dd", "0x234f2abc", "sys_k"], 1)]);
        let head = profile(&[(&["dd", "0x11aa", "sys_k"], 2)]);
        let plain = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        assert_eq!(plain.stacks().len(), 2);
        let stripped = ProfileDiff::new(&base, &head, &DiffOptions { strip_hex: true }).unwrap();
        assert_eq!(stripped.two_column_lines(), ["dd;0x...;sys_k 1 2"]);
        assert_eq!(strip_hex("a0xq 0x 0xF1BDE348;x"), "a0xq 0x 0x...;x");
    }

    #[test]
    fn empty_side_and_unit_mismatch_are_errors() {
        let some = profile(&[(&["a"], 1)]);
        let none = Profile::default();
        let err = ProfileDiff::new(&none, &some, &DiffOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "the base profile holds no samples");
        let err = ProfileDiff::new(&some, &none, &DiffOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "the head profile holds no samples");

        let mut bytes = profile(&[(&["a"], 1)]);
        bytes.meta.unit = "bytes".into();
        let err = ProfileDiff::new(&some, &bytes, &DiffOptions::default()).unwrap_err();
        assert!(matches!(err, DiffError::UnitMismatch { .. }), "{err}");
    }
}
