//! Kernel addresses through `/proc/kallsyms`.

use firebox_model::FrameKind;
use firebox_symbolizer::{Source, Symbolized, Symbolizer};

/// The address of `name` as `/proc/kallsyms` lists it.
fn kallsyms_addr(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms is needed");
    let addr = text
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let (addr, kind, symbol) = (fields.next()?, fields.next()?, fields.next()?);
            (symbol == name && kind.eq_ignore_ascii_case("t"))
                .then(|| u64::from_str_radix(addr, 16).ok())?
        })
        .unwrap_or_else(|| panic!("/proc/kallsyms lists no {name}"));
    assert_ne!(addr, 0, "/proc/kallsyms hides addresses: run the tests as root");
    addr
}

/// The start of `schedule` and an address inside it resolve to `schedule`.
#[test]
fn schedule_resolves_from_kallsyms() {
    let addr = kallsyms_addr("schedule");
    let mut symbolizer = Symbolizer::new();
    for at in [addr, addr + 1] {
        let found = symbolizer.kernel(at);
        assert_eq!(found.frames.len(), 1);
        assert_eq!(
            (found.frames[0].name.as_str(), found.frames[0].kind),
            ("schedule", FrameKind::Kernel)
        );
        assert_eq!(found.source, Source::Kernel);
    }
    assert_eq!(symbolizer.stats().by_module()["[kernel.kallsyms]"][&Source::Kernel], 2);
}

/// An address below every kernel symbol is an `[unknown]` kernel frame.
#[test]
fn unknown_kernel_address() {
    let mut symbolizer = Symbolizer::new();
    let found = symbolizer.kernel(0x1000);
    assert_eq!(found, Symbolized::unknown_kernel());
    assert_eq!(found.frames[0].kind, FrameKind::Kernel);
    assert_eq!(found.frames[0].name, "[unknown]");
}
