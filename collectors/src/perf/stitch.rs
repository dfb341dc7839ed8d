//! One user stack from a frame-pointer walk and the top of the stack.
//!
//! With `--call-graph auto` on modules that keep frame pointers, a sample
//! carries the kernel's frame-pointer walk and the top of the stack, which
//! CFI unwinds (see [`super::unwind`]). A frame-pointer walk starts at the
//! frame `bp` points to, so it skips the caller of a leaf that sets up no
//! frame, or of a function still in its prologue, and the caller of any
//! function that keeps no frame pointer; CFI does not, as far as the copy
//! goes. So the stack is the CFI's frames, then the walk's from the first
//! frame above them: the walk's frame records (the saved `bp`, then the
//! return address) that lie in the copy say where each of its return
//! addresses was found.

use super::unwind::Unwound;

/// The user frames of a sample, leaf first: `top` (unwound from the top of
/// the stack), then the frames of `walked` (the kernel's frame-pointer
/// walk from `bp`, leaf first) that lie above it; `read` reads a word of
/// the copied stack. Also the index of the first frame from the walk.
pub(crate) fn stitch(
    top: &Unwound,
    walked: &[u64],
    bp: u64,
    read: impl Fn(u64) -> Option<u64>,
) -> (Vec<u64>, usize) {
    let mut out = top.addresses();
    let Some(rest) = walked.get(1..).filter(|r| !r.is_empty()) else {
        let len = out.len();
        return (out, len);
    };
    let rest = match walk_above(top, rest, bp, read) {
        Some(above) => &rest[above..],
        None => {
            let meet = meet(top, rest, bp);
            out.truncate(meet);
            rest
        }
    };
    let from_walk = out.len();
    out.extend_from_slice(rest);
    (out, from_walk)
}

/// Where the walk goes on above the frames of `top`: the index in `rest`
/// (the walk's return addresses) of its first frame above them; `None`
/// where the slots do not tell.
fn walk_above(
    top: &Unwound,
    rest: &[u64],
    bp: u64,
    read: impl Fn(u64) -> Option<u64>,
) -> Option<usize> {
    // Where each of the walk's return addresses lies, as far as its frame
    // records are in the copy: rest[k] is at fp_k + 8, fp_0 = bp.
    let mut slots = Vec::with_capacity(rest.len());
    let mut fp = bp;
    for _ in rest {
        slots.push(fp.wrapping_add(8));
        match read(fp) {
            // Frame records lie ever further up the stack.
            Some(next) if next > fp => fp = next,
            _ => break,
        }
    }
    // Past code without rules the copy's frames are guesses themselves.
    let last = top.frames.iter().rev().find_map(|(_, slot)| *slot).filter(|_| !top.guessed)?;
    match slots.iter().position(|&slot| slot > last) {
        Some(above) => Some(above),
        // The walk ended within the copy's frames.
        None if slots.len() == rest.len() => Some(rest.len()),
        None => None,
    }
}

/// How many frames of `top` to keep where no slot says where the walk goes
/// on: up to the frame read from `bp + 8`, where the walk's first return
/// address lies, or up to the first frame equal to it.
fn meet(top: &Unwound, rest: &[u64], bp: u64) -> usize {
    let slot = bp.wrapping_add(8);
    let frames = &top.frames;
    frames
        .iter()
        .skip(1)
        .position(|(_, s)| *s == Some(slot))
        .or_else(|| frames.iter().skip(1).position(|(a, _)| *a == rest[0]))
        .map_or(frames.len(), |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwound(frames: &[(u64, Option<u64>)]) -> Unwound {
        Unwound { frames: frames.to_vec(), ..Unwound::default() }
    }

    /// Addresses without slots, as a copy whose slots are unknown gives.
    fn unplaced(addresses: &[u64]) -> Unwound {
        unwound(&addresses.iter().map(|&a| (a, None)).collect::<Vec<_>>())
    }

    fn nothing(_: u64) -> Option<u64> {
        None
    }

    fn stack(top: &Unwound, walked: &[u64], bp: u64, read: fn(u64) -> Option<u64>) -> Vec<u64> {
        stitch(top, walked, bp, read).0
    }

    /// The walk's frames start where the copy's end.
    #[test]
    fn the_first_frame_of_the_walk_is_told() {
        let top = unplaced(&[0x10, 0x20, 0x30, 0x40]);
        assert_eq!(
            stitch(&top, &[0x10, 0x30, 0x50], 0, nothing),
            (vec![0x10, 0x20, 0x30, 0x50], 2)
        );
        assert_eq!(stitch(&top, &[0x10], 0, nothing), (vec![0x10, 0x20, 0x30, 0x40], 4));
    }

    #[test]
    fn the_walk_takes_over_where_the_copy_meets_it() {
        // A leaf without a frame: the walk skips its caller 0x20.
        let walked = [0x10, 0x30, 0x50];
        let top = unplaced(&[0x10, 0x20, 0x30, 0x40]);
        assert_eq!(stack(&top, &walked, 0, nothing), [0x10, 0x20, 0x30, 0x50]);
        // The copy ran out before meeting the walk: what it gave, then the walk.
        let top = unplaced(&[0x10, 0x20]);
        assert_eq!(stack(&top, &walked, 0, nothing), [0x10, 0x20, 0x30, 0x50]);
        // A leaf with its frame: the two agree from the first return address.
        let top = unplaced(&[0x10, 0x30]);
        assert_eq!(stack(&top, &walked, 0, nothing), [0x10, 0x30, 0x50]);
        // Nothing walked beyond the leaf: the copy alone.
        assert_eq!(stack(&unplaced(&[0x10, 0x20]), &[0x10], 0, nothing), [0x10, 0x20]);
    }

    /// A stack of frame records at 0x1038, 0x1078 and 0x10b8 (each saved
    /// bp pointing at the next).
    fn records(addr: u64) -> Option<u64> {
        match addr {
            0x1038 => Some(0x1078),
            0x1078 => Some(0x10b8),
            _ => None,
        }
    }

    /// Recursion: every frame returns to the same address, so only where
    /// each lies says where the walk goes on. A leaf without a frame,
    /// called by `rec` three deep: the walk starts at the second `rec`.
    #[test]
    fn in_recursion_the_walk_goes_on_above_the_copy() {
        let rec = 0x20;
        let top =
            unwound(&[(0x10, None), (rec, Some(0x1000)), (rec, Some(0x1040)), (rec, Some(0x1080))]);
        let walked = [0x10, rec, rec, 0x90];
        assert_eq!(stack(&top, &walked, 0x1038, records), [0x10, rec, rec, rec, 0x90]);
        // Without the records in the copy, the slot of the first one still
        // says where the two meet.
        assert_eq!(stack(&top, &walked, 0x1038, nothing), [0x10, rec, rec, rec, 0x90]);
    }

    /// A function without a frame pointer in the middle (0x30, whose
    /// caller 0x40 the walk skips): the copy's frames are kept, and the
    /// walk goes on above them.
    #[test]
    fn a_function_without_a_frame_pointer_keeps_its_caller() {
        // Copy: leaf 0x10, 0x20 (slot 0x1000), 0x30 (0x1040), 0x40 (0x1060).
        let top = unwound(&[
            (0x10, None),
            (0x20, Some(0x1000)),
            (0x30, Some(0x1040)),
            (0x40, Some(0x1060)),
        ]);
        // Walk from bp 0x1038: 0x30 at 0x1040, then (0x40 skipped) 0x50 at
        // 0x1080, 0x60 at 0x10c0.
        let walked = [0x10, 0x30, 0x50, 0x60];
        assert_eq!(stack(&top, &walked, 0x1038, records), [0x10, 0x20, 0x30, 0x40, 0x50, 0x60]);
    }
}
