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
    match rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("strata-compute-{i}"))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
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
