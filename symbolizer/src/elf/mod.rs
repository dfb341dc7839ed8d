//! What firebox reads from an ELF file itself, with `object`: the GNU
//! build-id, the `.gnu_debuglink`, whether DWARF or a symbol table is there,
//! and the loadable segments that turn a file offset into the virtual
//! address the symbol tables speak of.
//!
//! Only headers, notes and a few sections are read (through
//! `object::ReadCache`), so checking a candidate file is cheap even for a
//! large library. Symbol lookups themselves are blazesym's ([`lookup`]),
//! except for the vDSO ([`symtab`]) and PLT stubs ([`plt`]).

pub(crate) mod debug;
pub(crate) mod lookup;
pub(crate) mod plt;
pub(crate) mod symtab;

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use object::{Object, ObjectSection, ObjectSegment, ReadCache, ReadRef};

use crate::Error;

/// What identifies a file when it has no build-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileIdentity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) mtime_nsec: i64,
}

/// A loadable segment: `file_size` bytes at `file_offset` in the file are
/// mapped at `vaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) file_offset: u64,
    pub(crate) file_size: u64,
    pub(crate) vaddr: u64,
}

/// The facts about one ELF file that decide how it is symbolized.
#[derive(Clone, Debug)]
pub(crate) struct ElfInfo {
    pub(crate) identity: Option<FileIdentity>,
    pub(crate) build_id: Option<Vec<u8>>,
    /// The debug file name and CRC the `.gnu_debuglink` section names.
    pub(crate) debuglink: Option<(OsString, u32)>,
    /// Whether the file holds `.debug_info` with contents.
    pub(crate) has_dwarf: bool,
    /// Whether the file holds a `.symtab` with contents.
    pub(crate) has_symtab: bool,
    /// Whether its `.text` has contents: a whole binary, not a debug-only
    /// file made by `objcopy --only-keep-debug`.
    pub(crate) has_code: bool,
    pub(crate) segments: Vec<Segment>,
}

impl ElfInfo {
    /// Reads the facts of the ELF file at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        let identity = FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        let cache = ReadCache::new(file);
        let mut info = ElfInfo::parse(&cache, path)?;
        info.identity = Some(identity);
        Ok(info)
    }

    /// Reads the facts of an ELF image held in memory (the vDSO).
    pub(crate) fn from_bytes(data: &[u8], path: &Path) -> Result<Self, Error> {
        ElfInfo::parse(data, path)
    }

    fn parse<'data, R: ReadRef<'data>>(data: R, path: &Path) -> Result<Self, Error> {
        let elf_error = |source| Error::Elf { path: path.to_path_buf(), source };
        let object = object::File::parse(data).map_err(elf_error)?;
        let build_id = object.build_id().map_err(elf_error)?.map(<[u8]>::to_vec);
        let debuglink = object
            .gnu_debuglink()
            .map_err(elf_error)?
            .map(|(name, crc)| (OsString::from_vec(name.to_vec()), crc));
        let has_contents = |name: &str| {
            object.section_by_name(name).is_some_and(|s| s.file_range().is_some_and(|r| r.1 > 0))
        };
        let segments = object
            .segments()
            .filter_map(|s| {
                let (file_offset, file_size) = s.file_range();
                (file_size > 0).then_some(Segment { file_offset, file_size, vaddr: s.address() })
            })
            .collect();
        Ok(ElfInfo {
            identity: None,
            build_id,
            debuglink,
            has_dwarf: has_contents(".debug_info"),
            has_symtab: has_contents(".symtab"),
            has_code: has_contents(".text"),
            segments,
        })
    }
}

/// The virtual address of file offset `offset` in `segments`.
pub(crate) fn virt_offset(segments: &[Segment], offset: u64) -> Option<u64> {
    segments
        .iter()
        .find(|s| offset >= s.file_offset && offset - s.file_offset < s.file_size)
        .map(|s| s.vaddr + (offset - s.file_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets map through the segment that holds them, and nowhere else.
    #[test]
    fn file_offsets_become_virtual_addresses() {
        let segments = [
            Segment { file_offset: 0, file_size: 0x1000, vaddr: 0 },
            Segment { file_offset: 0x1000, file_size: 0x3000, vaddr: 0x401000 },
        ];
        assert_eq!(virt_offset(&segments, 0x10), Some(0x10));
        assert_eq!(virt_offset(&segments, 0x1a2b), Some(0x401a2b));
        assert_eq!(virt_offset(&segments, 0x4000), None);
    }
}
