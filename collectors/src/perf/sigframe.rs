//! Unwinding through a signal handler's frame on x86_64 Linux.
//!
//! A signal handler returns into a trampoline (glibc's and musl's
//! `__restore_rt`, Go's `runtime.sigreturn__sigaction`) that makes the
//! `rt_sigreturn` system call; the kernel put the interrupted code's
//! registers in a `ucontext` on the stack, right above the handler's
//! return address. The trampoline's unwind rules say so with DWARF
//! expressions that framehop does not evaluate, so the trampolines are
//! found here by their code and the registers read from the `ucontext`.
//! No crate does this for a stack copy.

/// `mov $15, %rax; syscall` and `mov $15, %eax; syscall`: the whole of a
/// sigreturn trampoline (15 is `rt_sigreturn`).
const TRAMPOLINES: [&[u8]; 2] =
    [&[0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05], &[0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05]];

/// Where the interrupted code's registers lie in the `ucontext` (from its
/// start: flags, link and the 24-byte `stack_t`, then `gregs`, indexed
/// `REG_RBP` 10, `REG_RSP` 15, `REG_RIP` 16).
const GREGS: u64 = 40;
const RBP: u64 = GREGS + 10 * 8;
const RSP: u64 = GREGS + 15 * 8;
const RIP: u64 = GREGS + 16 * 8;

/// The offsets in `code` at which a sigreturn trampoline starts.
pub(crate) fn trampolines(code: &[u8]) -> Vec<u64> {
    let mut found = Vec::new();
    for pattern in TRAMPOLINES {
        let hits = code.windows(pattern.len()).enumerate().filter(|(_, w)| w == &pattern);
        found.extend(hits.map(|(at, _)| at as u64));
    }
    found.sort_unstable();
    found
}

/// The registers of the interrupted code, (ip, sp, bp), read from the
/// `ucontext` at `context` (the stack pointer once the handler's frame is
/// unwound).
pub(crate) fn interrupted(
    context: u64,
    read: &mut impl FnMut(u64) -> Result<u64, ()>,
) -> Option<(u64, u64, u64)> {
    let ip = read(context + RIP).ok()?;
    let sp = read(context + RSP).ok()?;
    let bp = read(context + RBP).ok()?;
    Some((ip, sp, bp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampolines_are_found_by_their_code() {
        let mut code = vec![0x90; 32];
        code[3..12].copy_from_slice(TRAMPOLINES[0]);
        code[20..27].copy_from_slice(TRAMPOLINES[1]);
        assert_eq!(trampolines(&code), [3, 20]);
        assert!(trampolines(&[0x0f, 0x05, 0xc3]).is_empty());
    }

    #[test]
    fn the_registers_come_from_gregs() {
        let mut read = |addr: u64| Ok(addr * 2);
        assert_eq!(interrupted(1000, &mut read), Some((2 * 1168, 2 * 1160, 2 * 1120)));
    }
}
