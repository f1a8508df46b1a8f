//! The engine's compute threads: a rayon pool that a trainer's work runs *inside*.
//!
//! Every kernel and most of Burn's flex operations split their work with rayon. Called from an
//! ordinary thread, each parallel section hands its job to the pool and puts the caller to sleep
//! until the pool's threads finish — a wake-up and a sleep on both sides for every operation, a
//! few hundred per training step. Run from one of the pool's own threads (see [`install`]), the
//! caller takes part in the work and only the other threads are woken: LeNet-5 trains 15–25 %
//! faster this way on two cores (docs/performance.md).
//!
//! Each [`install`] gets a pool of its own, alive while its work runs: a trainer waits for
//! requests on its pool thread between runs, and with one shared pool an idle (or paused)
//! trainer's thread could be taken by another trainer's parallel section while it waits — one
//! run stalled behind another. The pool has `RAYON_NUM_THREADS` threads when that is set, else one
//! per core, as rayon's global pool does.

/// Runs `f` on a thread of a new compute pool (blocking the caller until it returns), so the
/// parallel sections inside it start from the pool rather than from outside it; the pool ends
/// with `f`. Where the system refuses the pool's threads, `f` runs here on rayon's global pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    keep_freed_memory();
    match rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("strata-compute-{i}"))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// Tells the C allocator (glibc on Linux) to keep memory a training step frees for the next
/// step instead of handing it back to the system, once per process.
///
/// A step allocates and frees the same large buffers (activations, gradients, patch matrices)
/// every time. By default glibc returns the freed top of each thread's heap to the system
/// (`madvise`/`brk`) and maps large blocks afresh: the next step then takes a page fault and a
/// zero-filled page for every 4 KiB again, and every release flushes the other cores' TLBs. On
/// two cores that was 4–5 % of a transformer step in `perf` (page faults, `clear_page`, TLB
/// shoot-downs), and measured by switching it off through glibc's environment variables:
/// gpt_char +13 %, the U-Net denoiser +15 %, LeNet-5 +5 % (docs/performance.md). The cost is
/// that the process stays at its peak memory while it lives, which training reaches every
/// step anyway. Elsewhere (other allocators, other systems) this does nothing.
pub fn keep_freed_memory() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // glibc's `mallopt` parameters (malloc.h).
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_TOP_PAD: i32 = -2;
            const M_MMAP_THRESHOLD: i32 = -3;
            unsafe extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            // SAFETY: `mallopt` only sets allocator tunables; any value is accepted or refused
            // (returns 0), never undefined behaviour. Blocks of 32 MiB (glibc's largest
            // threshold) and above are still mapped on their own.
            unsafe {
                mallopt(M_TRIM_THRESHOLD, 1 << 30);
                mallopt(M_TOP_PAD, 64 << 20);
                mallopt(M_MMAP_THRESHOLD, 32 << 20);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    #[test]
    fn work_runs_on_a_compute_thread_and_its_parallel_sections_too() {
        let (name, total) = super::install(|| {
            let name = std::thread::current().name().map(str::to_owned);
            let total: u64 = (0..10_000u64).into_par_iter().sum();
            (name, total)
        });
        assert!(name.is_some_and(|n| n.starts_with("strata-compute-")));
        assert_eq!(total, 49_995_000);
    }

    #[test]
    fn a_waiting_pool_thread_does_not_hold_up_another_pool() {
        // One install waits (as an idle trainer waits for requests) while another runs parallel
        // work to the end: separate pools, so the second never needs the first one's threads.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let waiting = std::thread::spawn(move || super::install(move || rx.recv().is_ok()));
        let total: u64 = super::install(|| (0..100_000u64).into_par_iter().map(|i| i % 7).sum());
        assert_eq!(total, (0..100_000u64).map(|i| i % 7).sum::<u64>());
        drop(tx);
        assert!(waiting.join().is_ok_and(|got| !got));
    }
}
