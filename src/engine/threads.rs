//! The engine's compute threads: one rayon pool that training runs *inside*.
//!
//! Every kernel and most of Burn's flex operations split their work with rayon. Called from an
//! ordinary thread, each parallel section hands its job to the pool and puts the caller to sleep
//! until the pool's threads finish — a wake-up and a sleep on both sides for every operation, a
//! few hundred per training step. Run from one of the pool's own threads (see [`install`]), the
//! caller takes part in the work and only the other threads are woken: LeNet-5 trains 15–25 %
//! faster this way on two cores (docs/performance.md).
//!
//! The pool has `RAYON_NUM_THREADS` threads when that is set, else one per core, as rayon's
//! global pool does.

use std::sync::OnceLock;

/// The pool, built on first use (`None` if the system refused its threads).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("strata-compute-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `f` on one of the compute pool's threads (blocking the caller until it returns), so the
/// parallel sections inside it start from the pool rather than from outside it. Where the pool
/// could not be built, `f` runs here on the global pool as before.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(pool) => pool.install(f),
        None => f(),
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
        // Nested: already on the pool, it runs in place.
        assert_eq!(super::install(|| super::install(|| 7)), 7);
    }
}
