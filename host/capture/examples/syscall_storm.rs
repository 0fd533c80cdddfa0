//! Generates syscall events at a steady rate, paced in 0.5 ms slices, from THREADS threads
//! sharing the rate, and prints the rate reached. Used by `bench/max_rate.sh` to find the
//! highest rate that `lanner run` sustains without drops. KIND is `openclose` (open and
//! close of `/dev/null`, two events per pair) or `close` (close of a descriptor that is not
//! open: the cheapest captured syscall, so that the generator is not what limits the rate
//! on a small machine).
//!
//! `syscall_storm EVENTS_PER_SECOND SECONDS [THREADS] [KIND]`

use std::ffi::CString;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).expect("events per second");
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let threads: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let close_only = match args.next().as_deref() {
        None | Some("openclose") => false,
        Some("close") => true,
        Some(other) => panic!("unknown kind {other}: openclose or close"),
    };
    let start = Instant::now();
    let total = Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || storm(rate / threads as f64, start, total, close_only)))
        .collect();
    let events: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!("events {events}");
    println!("events_per_s {:.0}", events as f64 / secs);
}

/// Syscalls at `rate` events per second until `total` has passed; returns the events.
fn storm(rate: f64, start: Instant, total: Duration, close_only: bool) -> u64 {
    let path = CString::new("/dev/null").unwrap();
    let per_step = if close_only { 1 } else { 2 };
    let mut events = 0u64;
    while start.elapsed() < total {
        // Catch up to where the rate says we should be, then yield the rest of the slice.
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while events < due {
            // SAFETY: a valid NUL-terminated path; the fd is closed right away. -1 is never
            // an open descriptor.
            unsafe {
                if close_only {
                    libc::close(-1);
                } else {
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    libc::close(fd);
                }
            }
            events += per_step;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    events
}
