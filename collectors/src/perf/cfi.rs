//! Which of a module's two sections of unwind rules covers which code.
//!
//! A module can carry rules in `.eh_frame` for some functions and in
//! `.debug_frame` for others: code compiled with
//! `-fno-asynchronous-unwind-tables -g` puts its rules in `.debug_frame`
//! only, while the C runtime's start files linked into the same program
//! bring theirs in `.eh_frame`. framehop reads one section per module
//! (`.eh_frame` when there is one), so the functions only `.debug_frame`
//! describes are handed to it as modules of their own. The ranges are read
//! here with gimli, the parser framehop itself uses; no crate says which
//! addresses one section covers and the other does not.

use std::ops::Range;

use gimli::{BaseAddresses, CieOrFde, DebugFrame, EhFrame, LittleEndian, UnwindSection};

/// Which code a module's rules cover.
#[derive(Debug, Default)]
pub(crate) struct Coverage {
    /// The address ranges either section has rules for, sorted and joined:
    /// where an unwinder need not fall back to frame pointers.
    pub(crate) covered: Vec<Range<u64>>,
    /// The address ranges `.debug_frame` has rules for and `.eh_frame` has
    /// not, sorted and joined across gaps that neither covers; empty when
    /// either section is missing (one section alone needs no split).
    pub(crate) debug_frame_only: Vec<Range<u64>>,
}

/// The coverage of `eh_frame` (at its address; `text` is the address of
/// `.text`) and `debug_frame`, each section read once.
pub(crate) fn coverage(
    text: u64,
    eh_frame: Option<(&Range<u64>, &[u8])>,
    debug_frame: Option<&[u8]>,
) -> Coverage {
    let eh = eh_frame.map(|(range, data)| {
        let bases = BaseAddresses::default().set_eh_frame(range.start).set_text(text);
        merged(fde_ranges(&EhFrame::new(data, LittleEndian), &bases))
    });
    let debug = debug_frame
        .map(|data| fde_ranges(&DebugFrame::new(data, LittleEndian), &BaseAddresses::default()));
    let debug_frame_only = match (&eh, &debug) {
        (Some(eh), Some(debug)) => uncovered(debug.clone(), eh),
        _ => Vec::new(),
    };
    let covered = merged(eh.into_iter().chain(debug).flatten().collect());
    Coverage { covered, debug_frame_only }
}

/// The address range of every function a section has rules for; entries
/// that cannot be parsed are left out.
fn fde_ranges<'a, S: UnwindSection<gimli::EndianSlice<'a, LittleEndian>>>(
    section: &S,
    bases: &BaseAddresses,
) -> Vec<Range<u64>> {
    let mut ranges = Vec::new();
    let mut entries = section.entries(bases);
    while let Ok(Some(entry)) = entries.next() {
        let CieOrFde::Fde(partial) = entry else { continue };
        if let Ok(fde) = partial.parse(S::cie_from_offset) {
            let range = fde.initial_address()..fde.end_address();
            if !range.is_empty() {
                ranges.push(range);
            }
        }
    }
    ranges
}

/// `ranges` sorted, with overlapping and touching ones joined.
fn merged(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => out.push(range),
        }
    }
    out
}

/// The parts of `ranges` outside `covered` (sorted and disjoint), sorted;
/// two parts are joined when no covered range lies between them.
fn uncovered(ranges: Vec<Range<u64>>, covered: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut parts = Vec::new();
    for range in merged(ranges) {
        let mut start = range.start;
        let first = covered.partition_point(|c| c.end <= start);
        for c in covered[first..].iter().take_while(|c| c.start < range.end) {
            if start < c.start {
                parts.push(start..c.start);
            }
            start = start.max(c.end);
        }
        if start < range.end {
            parts.push(start..range.end);
        }
    }
    let mut out: Vec<Range<u64>> = Vec::with_capacity(parts.len());
    for part in parts {
        if let Some(last) = out.last_mut() {
            let next_covered = covered.partition_point(|c| c.end <= last.end);
            if covered.get(next_covered).is_none_or(|c| c.start >= part.start) {
                last.end = part.end;
                continue;
            }
        }
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_parts_are_cut_out_and_the_rest_joined() {
        let covered = [0x100..0x110, 0x200..0x280];
        let debug = vec![0x300..0x310, 0x120..0x140, 0x140..0x150, 0x160..0x1f0, 0x1f0..0x220];
        // 0x120..0x200 is one run (nothing covered in between), cut where
        // 0x200..0x280 is covered; 0x300..0x310 lies beyond that.
        assert_eq!(uncovered(debug, &covered), [0x120..0x200, 0x300..0x310]);
    }

    #[test]
    fn a_range_that_spans_a_covered_one_is_split_around_it() {
        assert_eq!(uncovered(vec![0x0..0x100], &[0x40..0x60]), [0x0..0x40, 0x60..0x100]);
        assert_eq!(uncovered(vec![0x40..0x60], &[0x0..0x100]), Vec::<Range<u64>>::new());
    }

    #[test]
    fn one_section_alone_needs_no_split() {
        assert!(coverage(0, None, Some(&[][..])).debug_frame_only.is_empty());
        assert!(coverage(0, Some((&(0..0), &[][..])), None).debug_frame_only.is_empty());
    }
}
