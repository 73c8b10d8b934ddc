//! A barrier for the run's epoch steps: spins briefly, yields a few times, then sleeps on a
//! condition variable. Most waits are short (the shards of one epoch take similar time), and
//! parking every thread on a futex three times per epoch costs tens of microseconds each on a
//! busy machine; long waits still sleep instead of burning a core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

/// A reusable barrier for `n` threads.
#[derive(Debug)]
pub(crate) struct SpinBarrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl SpinBarrier {
    pub(crate) fn new(n: usize) -> Self {
        SpinBarrier {
            n: n.max(1),
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Waits until all `n` threads have called `wait` for this generation. Everything a thread
    /// wrote before `wait` is visible to every thread after it.
    pub(crate) fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            // Under the lock, so a sleeper cannot miss the wake-up between its check and wait.
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.cv.notify_all();
            return;
        }
        for i in 0..300u32 {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            if i < 200 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.generation.load(Ordering::Acquire) == generation {
            guard = self.cv.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_threads_see_each_step() {
        let barrier = SpinBarrier::new(3);
        let counter = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let (barrier, counter) = (&barrier, &counter);
                s.spawn(move || {
                    for step in 0..500 {
                        counter.fetch_add(1, Ordering::Relaxed);
                        if t == 0 && step % 100 == 0 {
                            // A slow thread: the others must sleep, not miss the wake-up.
                            std::thread::sleep(std::time::Duration::from_millis(2));
                        }
                        barrier.wait();
                        assert!(counter.load(Ordering::Relaxed) >= 3 * (step + 1));
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(counter.load(Ordering::Relaxed), 1500);
    }
}
