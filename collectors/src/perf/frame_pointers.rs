//! Whether a module's code keeps frame pointers, read from its unwind rules.
//!
//! `--call-graph auto` samples without stack copies while every module
//! mapped by the target keeps frame pointers: the kernel's frame-pointer
//! walk then gives the whole stack, and copying the top of the stack into
//! every sample would buy nothing. No crate answers the question, so it is
//! answered here from the CFI: a function that keeps a frame pointer says
//! so in its rules, by making `rbp` the register its frame is found from
//! once the prologue has run. A module is taken to keep frame pointers only
//! when every function whose rules set up a frame keeps it in `rbp`: one
//! that does not, anywhere in the middle of a stack, makes a frame-pointer
//! walk skip its caller, beyond the reach of the top of the stack that
//! mends the leaf. (A leaf that sets up no frame says nothing, and is
//! mended.) A build without frame pointers still has a few functions that
//! keep one (those with `alloca` or variable-length arrays). Go keeps
//! frame pointers on x86_64 by design, whatever its rules say.

use std::ops::Range;

use gimli::{
    BaseAddresses, CallFrameInstruction, CieOrFde, DebugFrame, EhFrame, LittleEndian, Register,
    UnwindSection, X86_64,
};
use object::Object;

/// Whether `object` is a Go program, which keeps frame pointers on x86_64
/// whatever its rules say.
pub(crate) fn is_go<'data, R: object::ReadRef<'data>>(object: &object::File<'data, R>) -> bool {
    let go = [".go.buildinfo", ".gopclntab", ".note.go.buildid"];
    go.iter().any(|name| object.section_by_name(name).is_some())
}

/// What a module's unwind rules say about its frame pointers: `eh_frame`
/// with its address, and `debug_frame` (a build can put the rules of some
/// functions in one and of the rest in the other); `text` is the address
/// of `.text`. A Go program (`go`) keeps them in its own code, whose rules
/// are in `.debug_frame`; C code linked into it (cgo, and libc with it
/// when static) brings `.eh_frame`, which says whether that code does.
pub(crate) fn kept(
    go: bool,
    text: u64,
    eh_frame: Option<(&Range<u64>, &[u8])>,
    debug_frame: Option<&[u8]>,
) -> bool {
    let debug_frame = if go { None } else { debug_frame };
    if eh_frame.is_none() && debug_frame.is_none() {
        // Nothing to unwind with but frame pointers, stack copy or not.
        return true;
    }
    let mut counts = Counts::default();
    if let Some((range, data)) = eh_frame {
        let bases = BaseAddresses::default().set_eh_frame(range.start).set_text(text);
        counts.add(count(&EhFrame::new(data, LittleEndian), &bases));
    }
    if let Some(data) = debug_frame {
        counts.add(count(&DebugFrame::new(data, LittleEndian), &BaseAddresses::default()));
    }
    match counts {
        // Rules that cannot all be read say nothing for certain; stack
        // copies lose nothing where frame pointers would have done.
        Counts { unreadable: true, .. } => false,
        Counts { functions: 0, .. } => true,
        Counts { functions, with_frame_pointer, .. } => with_frame_pointer == functions,
    }
}

#[derive(Default)]
struct Counts {
    functions: u64,
    with_frame_pointer: u64,
    /// An entry could not be parsed.
    unreadable: bool,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.functions += other.functions;
        self.with_frame_pointer += other.with_frame_pointer;
        self.unreadable |= other.unreadable;
    }
}

fn count<'a, S: UnwindSection<gimli::EndianSlice<'a, LittleEndian>>>(
    section: &S,
    bases: &BaseAddresses,
) -> Counts {
    let mut counts = Counts::default();
    let mut entries = section.entries(bases);
    loop {
        let entry = match entries.next() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(_) => {
                counts.unreadable = true;
                break;
            }
        };
        let CieOrFde::Fde(partial) = entry else { continue };
        let Ok(fde) = partial.parse(S::cie_from_offset) else {
            counts.unreadable = true;
            continue;
        };
        let mut frame = Cfa::None;
        let mut instructions = fde.instructions(section, bases);
        loop {
            match instructions.next() {
                Ok(Some(instruction)) => frame = frame.max(Cfa::of(&instruction)),
                Ok(None) => break,
                Err(_) => {
                    counts.unreadable = true;
                    break;
                }
            }
        }
        match frame {
            // A leaf that sets up no frame, and the entry point, leave the
            // frame pointer as they found it; a PLT's rules are an
            // expression. Neither says how the module was built.
            Cfa::None | Cfa::Expression => {}
            Cfa::StackPointer => counts.functions += 1,
            Cfa::FramePointer => {
                counts.functions += 1;
                counts.with_frame_pointer += 1;
            }
        }
    }
    counts
}

/// How a function's rules find its frame, the most telling seen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cfa {
    /// The CFA stays where the call left it.
    None,
    /// From the stack pointer, at offsets that follow pushes.
    StackPointer,
    /// From `rbp`, once the prologue has set it.
    FramePointer,
    /// By a DWARF expression (PLT entries).
    Expression,
}

impl Cfa {
    fn of<T: gimli::ReaderOffset>(instruction: &CallFrameInstruction<T>) -> Cfa {
        const RBP: Register = X86_64::RBP;
        match instruction {
            CallFrameInstruction::DefCfaRegister { register: RBP }
            | CallFrameInstruction::DefCfa { register: RBP, .. }
            | CallFrameInstruction::DefCfaSf { register: RBP, .. } => Cfa::FramePointer,
            CallFrameInstruction::DefCfaRegister { .. }
            | CallFrameInstruction::DefCfa { .. }
            | CallFrameInstruction::DefCfaSf { .. }
            | CallFrameInstruction::DefCfaOffset { .. }
            | CallFrameInstruction::DefCfaOffsetSf { .. } => Cfa::StackPointer,
            CallFrameInstruction::DefCfaExpression { .. } => Cfa::Expression,
            _ => Cfa::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use object::read::ReadCache;
    use object::ObjectSection;

    use super::*;

    fn kept_by(path: &Path) -> bool {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cache = ReadCache::new(file);
        let object = object::File::parse(&cache).unwrap();
        let section = |name| {
            let s = object.section_by_name(name)?;
            Some((s.address()..s.address() + s.size(), s.uncompressed_data().ok()?.into_owned()))
        };
        let eh_frame = section(".eh_frame");
        let debug_frame = section(".debug_frame");
        let text = object.section_by_name(".text").map_or(0, |s| s.address());
        kept(
            is_go(&object),
            text,
            eh_frame.as_ref().map(|(r, d)| (r, d.as_slice())),
            debug_frame.as_ref().map(|(_, d)| d.as_slice()),
        )
    }

    /// The chain workload built with `flags` into a directory of its own.
    fn build(name: &str, flags: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("firebox-fp-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/workloads/chain.c");
        let out = dir.join("chain");
        let status = Command::new("cc")
            .args(flags)
            .arg("-pthread")
            .arg("-o")
            .arg(&out)
            .arg(&source)
            .status()
            .unwrap_or_else(|e| panic!("`cc` (Debian's gcc) is needed: {e}"));
        assert!(status.success(), "cc {flags:?} failed");
        out
    }

    #[test]
    fn a_build_with_frame_pointers_keeps_them() {
        assert!(kept_by(&build("fp", &["-O2", "-fno-omit-frame-pointer"])));
    }

    #[test]
    fn a_build_without_frame_pointers_does_not() {
        assert!(!kept_by(&build("nofp", &["-O2", "-fomit-frame-pointer"])));
    }

    /// A build without frame pointers whose first CIE is unreadable (its
    /// version byte made 9) is not taken for one that keeps them.
    #[test]
    fn unreadable_rules_are_no_yes() {
        let path = build("badcie", &["-O2", "-fomit-frame-pointer"]);
        let mut bytes = std::fs::read(&path).unwrap();
        let offset = {
            let object = object::File::parse(&*bytes).unwrap();
            let eh_frame = object.section_by_name(".eh_frame").unwrap();
            eh_frame.file_range().unwrap().0 as usize
        };
        // length (4 bytes), CIE id (4), version (1).
        assert_eq!(bytes[offset + 8], 1, "the first entry of .eh_frame is a version 1 CIE");
        bytes[offset + 8] = 9;
        let patched = path.with_file_name("chain-badcie");
        std::fs::write(&patched, bytes).unwrap();
        assert!(!kept_by(&patched));
    }

    /// A build whose own functions have their rules in `.debug_frame` only
    /// (the start files' are in `.eh_frame`) is read from both.
    #[test]
    fn rules_in_debug_frame_count_too() {
        let flags = ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-g"];
        let without = build("df-nofp", &[&["-O2", "-fomit-frame-pointer"][..], &flags].concat());
        let with = build("df-fp", &[&["-O2", "-fno-omit-frame-pointer"][..], &flags].concat());
        assert!(!kept_by(&without));
        assert!(kept_by(&with));
    }

    /// Debian builds its libc without frame pointers; a static binary holds
    /// that libc's code too, and most of its functions.
    #[test]
    fn debians_libc_and_a_static_binary_do_not() {
        assert!(!kept_by(Path::new("/lib/x86_64-linux-gnu/libc.so.6")));
        assert!(!kept_by(&build("static", &["-O2", "-fno-omit-frame-pointer", "-static"])));
    }
}
