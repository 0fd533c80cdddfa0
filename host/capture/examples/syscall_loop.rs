//! Times a getpid loop and an open/close loop, in nanoseconds per iteration: the probe's
//! cost on every syscall is measured by running this with and without capture (see
//! `bench/overhead.sh`).

use std::ffi::CString;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let path = CString::new("/dev/null").unwrap();
    // Warm up.
    for _ in 0..10_000 {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: as above; the raw syscall avoids any libc caching.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let getpid = t.elapsed().as_nanos() as f64 / n as f64;
    let m = n / 4;
    let t = Instant::now();
    for _ in 0..m {
        // SAFETY: a valid NUL-terminated path; the fd is closed right away.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            libc::close(fd);
        }
    }
    let openclose = t.elapsed().as_nanos() as f64 / m as f64;
    println!("getpid_ns {getpid:.1}");
    println!("open_close_ns {openclose:.1}");
}
