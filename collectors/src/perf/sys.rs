//! The few system calls the sampler needs that no safe wrapper offers:
//! redirecting one perf event's output into another's ring buffer, starting
//! and stopping an event whose ring another thread owns, waiting
//! for any of several rings, its own CPU time and descriptor limits, starting a command stopped before `exec` so its
//! events can be opened first, and waiting for it.
//!
//! Written by hand because `std::process::Command::spawn` waits for the
//! child's `exec`, which must not happen before the events exist, and
//! `perf-event2` exposes `PERF_EVENT_IOC_SET_OUTPUT` only as a raw ioctl and
//! its rings only as raw descriptors.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Sends the records of event `fd` into the ring buffer of event `target`
/// (both on the same CPU).
pub(crate) fn set_output(fd: &impl AsRawFd, target: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: both descriptors are open perf event fds owned by the caller
    // for the duration of the call; the ioctl takes a plain integer.
    let rc =
        unsafe { perf_event_open_sys::ioctls::SET_OUTPUT(fd.as_raw_fd(), target.as_raw_fd() as _) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A second descriptor for the perf event `fd`, to start and stop it once
/// the first has been handed to another thread.
pub(crate) fn duplicate(fd: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: `fd` is open for the duration of the call; F_DUPFD_CLOEXEC
    // takes no pointer.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Starts or stops the perf event `fd`, and the events its threads'
/// children inherited from it.
pub(crate) fn set_enabled(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: `fd` is an open perf event descriptor owned by the caller; the
    // ioctls take no pointer.
    let rc = unsafe {
        if on {
            perf_event_open_sys::ioctls::ENABLE(fd, 0)
        } else {
            perf_event_open_sys::ioctls::DISABLE(fd, 0)
        }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until one of `fds` is readable (for a ring: filled to its wakeup
/// watermark), a signal arrives, or `timeout` passes.
pub(crate) fn wait_readable(fds: &[RawFd], timeout: std::time::Duration) -> io::Result<usize> {
    let mut polled: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `polled` is a valid array of `polled.len()` pollfd structs
    // that lives across the call; the descriptors belong to the caller.
    let rc = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// CLOCK_MONOTONIC in nanoseconds, the clock the events stamp records with.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// A forked child waiting, before `exec`, for the word to go.
pub(crate) struct HeldChild {
    pub(crate) pid: u32,
    go: Option<OwnedFd>,
    /// Read end of a close-on-exec pipe: empty at EOF when `exec` worked,
    /// the `errno` of a failed `exec` otherwise.
    exec_error: Option<OwnedFd>,
}

impl HeldChild {
    /// Forks a child that waits until [`HeldChild::release`] and then
    /// executes `path` with `argv` (argv[0] included) in the current
    /// environment.
    pub(crate) fn spawn(path: &CString, argv: &[CString]) -> io::Result<HeldChild> {
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());

        let (read_end, write_end) = pipe()?;
        let (error_read, error_write) = pipe()?;

        // SAFETY: between fork and exec the child calls only async-signal-
        // safe functions (close, read, execv, _exit) on memory prepared
        // before the fork; it never returns into Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: see the fork above; these are the async-signal-safe
            // calls it names, on descriptors and strings valid in the child.
            unsafe {
                libc::close(write_end.as_raw_fd());
                libc::close(error_read.as_raw_fd());
                let mut byte = 0u8;
                let n = libc::read(read_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
                if n == 1 {
                    libc::execv(path.as_ptr(), argv_ptrs.as_ptr());
                    let errno = *libc::__errno_location();
                    let bytes = errno.to_ne_bytes();
                    libc::write(error_write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(127);
                }
                // The parent gave up before releasing us.
                libc::_exit(0);
            }
        }
        drop(read_end);
        drop(error_write);
        Ok(HeldChild { pid: pid as u32, go: Some(write_end), exec_error: Some(error_read) })
    }

    /// Lets the child `exec`, and waits until it did.
    ///
    /// # Errors
    ///
    /// Why `exec` failed (not an executable, permission denied), or why the
    /// child could not be told to go.
    pub(crate) fn release(&mut self) -> io::Result<()> {
        if let Some(fd) = self.go.take() {
            let file = std::fs::File::from(fd);
            io::Write::write_all(&mut &file, b"g")?;
        }
        if let Some(fd) = self.exec_error.take() {
            let mut bytes = [0u8; 4];
            let n = io::Read::read(&mut std::fs::File::from(fd), &mut bytes)?;
            if n == bytes.len() {
                // Reap the child that gave up, so it leaves no zombie.
                let _ = self.wait_blocking();
                return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(bytes)));
            }
        }
        Ok(())
    }

    fn wait_blocking(&mut self) -> io::Result<()> {
        let mut status = 0;
        // SAFETY: `status` is a valid int to write to.
        if unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Asks the child to end (SIGTERM), when the recording stops before it.
    pub(crate) fn terminate(&mut self) {
        // SAFETY: kill takes plain integers; the pid is our own child, not
        // yet reaped, so it names no other process.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
    }

    /// The child's exit code (or 128 + signal) once it has ended; `None`
    /// while it runs.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<i32>> {
        let mut status = 0;
        // SAFETY: `status` is a valid int to write to; WNOHANG never blocks.
        let rc = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, libc::WNOHANG) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc == 0 {
            return Ok(None);
        }
        if libc::WIFEXITED(status) {
            Ok(Some(libc::WEXITSTATUS(status)))
        } else {
            Ok(Some(128 + libc::WTERMSIG(status)))
        }
    }
}

/// A pipe whose ends close on `exec`: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        // Closing the pipe without a byte makes a held child exit quietly.
        self.go.take();
    }
}

/// The soft and hard limits on open file descriptors (read without opening
/// a file: they are asked for when none are left).
pub(crate) fn descriptor_limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some((limit.rlim_cur, limit.rlim_max))
}

/// User plus system CPU time of this process, all threads.
pub(crate) fn own_cpu_time() -> std::time::Duration {
    // SAFETY: rusage is plain old data for which all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_SELF never fails
    // with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return std::time::Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        std::time::Duration::new(t.tv_sec as u64, 0)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Hands the heap memory freed so far back to the kernel, so that a
/// recording's dropped caches stop counting against the process.
pub(crate) fn release_free_heap() {
    // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it takes
    // no pointers from us and is safe to call at any time.
    unsafe { libc::malloc_trim(0) };
}
