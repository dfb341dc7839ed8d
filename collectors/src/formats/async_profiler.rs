//! async-profiler's collapsed output (`-o collapsed`, with `-a` for frame
//! types): folded stacks whose frames may end in `_[j]` (JIT-compiled),
//! `_[i]` (inlined), `_[k]` (kernel), `_[0]` (interpreted) or `_[1]`
//! (C1-compiled).
//!
//! The suffixes become [`FrameKind`]s; the names no longer carry them, so the
//! flame graph shows `Codec.encode` once whatever tier ran it, coloured by
//! the tier that ran it most (see `render` in the `firebox` crate), while
//! folded output writes the suffixes back.
//!
//! In allocation profiles the leaf is the allocated class, and there `_[i]`
//! means *allocated inside a TLAB* and `_[k]` *outside*: not inlined, not
//! kernel. Such a leaf becomes the class frame with a marker child
//! `[in TLAB]` or `[outside TLAB]`, so the class stays one node and its
//! children show the split. [`Kind::Auto`] takes a file for an allocation
//! profile when every leaf is a class name (`java.lang.String`, `byte[]`)
//! with one of those two suffixes.

use std::io::Read;

use firebox_model::{Frame, FrameKind, Profile};

use crate::error::Error;
use crate::formats::{folded, read_all, text, Format};

/// What a collapsed file measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// Allocation when every leaf is an allocated class, CPU otherwise.
    #[default]
    Auto,
    /// Samples of running code (cpu, wall, lock).
    Cpu,
    /// Allocation samples, the allocated class as the leaf.
    Alloc,
}

/// Settings of the async-profiler collapsed reader.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// What the file measured.
    pub kind: Kind,
    /// How counts are read.
    pub folded: folded::Options,
}

/// Reads async-profiler collapsed output from `reader`.
///
/// # Errors
///
/// [`Error::Io`] when reading fails; [`Error::Malformed`] for counts no
/// profile can hold, as in [`folded::from_reader`].
pub fn from_reader<R: Read>(reader: R, options: &Options) -> Result<Profile, Error> {
    from_bytes(&read_all(reader)?, options)
}

/// Reads async-profiler collapsed output held in memory; see
/// [`from_reader`].
///
/// # Errors
///
/// As [`from_reader`], less the I/O.
pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Profile, Error> {
    let text = text::decode(bytes);
    let alloc = match options.kind {
        Kind::Auto => looks_like_alloc(&text),
        Kind::Cpu => false,
        Kind::Alloc => true,
    };
    let mut profile = Profile::default();
    folded::read_lines(&text, &options.folded, Format::AsyncProfiler, &mut profile, &mut |n| {
        folded::kind_from_suffix(n)
    })?;
    if !alloc {
        return Ok(profile);
    }

    // Rewrite each leaf `_[i]`/`_[k]` class into class + TLAB marker.
    profile.meta.sample_type = "alloc".to_string();
    let mut out = Profile::new(profile.meta.clone());
    for (stack, weight) in profile.stacks() {
        let mut frames: Vec<Frame> = profile.resolve(stack).cloned().collect();
        if let Some(leaf) = frames.last_mut() {
            let marker = match leaf.kind {
                FrameKind::Inlined => Some("[in TLAB]"),
                FrameKind::Kernel => Some("[outside TLAB]"),
                _ => None,
            };
            if let Some(marker) = marker {
                leaf.kind = FrameKind::Native;
                frames.push(Frame::new(marker, FrameKind::Marker));
            }
        }
        out.add_frames(frames, weight);
    }
    Ok(out)
}

/// True when every stack line's leaf is an allocated class with a TLAB
/// suffix.
fn looks_like_alloc(text: &str) -> bool {
    let mut leaves = text
        .lines()
        .filter_map(|l| l.trim_end().rsplit_once([' ', '\t']))
        .map(|(stack, _)| stack.rsplit(';').next().unwrap_or("").trim())
        .filter(|leaf| !leaf.is_empty() && !leaf.starts_with('#'))
        .peekable();
    leaves.peek().is_some()
        && leaves.all(|leaf| {
            let base = leaf.strip_suffix("_[i]").or_else(|| leaf.strip_suffix("_[k]"));
            base.is_some_and(is_class_name)
        })
}

/// `java.lang.String`, `byte[]`, `Foo$Bar`: a class, not a method.
fn is_class_name(name: &str) -> bool {
    if name.ends_with("[]") {
        return true;
    }
    let last = name.rsplit(['.', '/']).next().unwrap_or(name);
    !name.contains('(') && last.chars().next().is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_leaf_is_one_class_with_tlab_children() {
        let text = "Main.main_[j];Builder.build_[j];java.lang.String_[i] 10\n\
                    Main.main_[j];Builder.build_[j];java.lang.String_[k] 1\n";
        let p = from_bytes(text.as_bytes(), &Options::default()).unwrap();
        assert_eq!(
            p.folded_lines(),
            [
                "Main.main_[j];Builder.build_[j];java.lang.String;[in TLAB] 10",
                "Main.main_[j];Builder.build_[j];java.lang.String;[outside TLAB] 1",
            ]
        );
    }

    #[test]
    fn cpu_profile_keeps_kinds() {
        let text = "Worker.run_[j];Codec.encode_[j];Arrays.copyOf_[i] 3\n\
                    Worker.run_[j];Codec.encode_[1];Arrays.copyOf_[0] 2\n\
                    Worker.run_[j];Codec.encode_[j];__memmove_avx_unaligned;copy_user_generic_[k] 1\n";
        let p = from_bytes(text.as_bytes(), &Options::default()).unwrap();
        assert_eq!(p.total(), 6);
        let encode: Vec<FrameKind> =
            p.frames().iter().filter(|f| f.name == "Codec.encode").map(|f| f.kind).collect();
        assert_eq!(encode, [FrameKind::Jit, FrameKind::C1]);
    }
}
