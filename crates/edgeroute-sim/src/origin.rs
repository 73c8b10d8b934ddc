//! Origins: service time and capacity, with queueing and overload errors.
//!
//! Each (service, region) origin has `capacity` slots (instances × concurrency). A request takes
//! the slot that frees first (first come, first served: a G/G/c queue simulated exactly with a
//! min-heap of slot free times); if it would wait longer than `max_queue`, it is refused with 503
//! (overload) without taking a slot. Service time is lognormal from p50 and p99.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::dist::LogNormal;
use crate::rng::SimRng;

/// What happened to a request at an origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OriginOutcome {
    /// Served: waited `queue_us` for a slot, then `service_us`.
    Served {
        /// Time waiting for a free slot.
        queue_us: u64,
        /// Time being served.
        service_us: u64,
    },
    /// Refused: every slot busy for longer than the queue limit.
    Overloaded,
}

/// One origin's queue.
#[derive(Debug, Clone)]
pub struct OriginQueue {
    capacity: usize,
    max_queue_us: u64,
    /// Free times of busy slots (a min-heap); slots not in the heap are idle.
    busy: BinaryHeap<Reverse<u64>>,
    service: LogNormal,
    /// Requests served.
    pub served: u64,
    /// Requests refused for overload.
    pub overloaded: u64,
    /// Total busy time of all slots, in microseconds (for utilisation and compute cost).
    pub busy_us: u128,
    /// The most slots busy at once.
    pub peak_busy: usize,
}

impl OriginQueue {
    /// An idle origin.
    #[must_use]
    pub fn new(capacity: u32, max_queue_us: u64, service: LogNormal) -> Self {
        OriginQueue {
            capacity: capacity.max(1) as usize,
            max_queue_us,
            busy: BinaryHeap::new(),
            service,
            served: 0,
            overloaded: 0,
            busy_us: 0,
            peak_busy: 0,
        }
    }

    /// The default service-time distribution.
    #[must_use]
    pub fn service(&self) -> LogNormal {
        self.service
    }

    /// A request arriving at `now`, served for `service_us` (drawn by the caller, e.g. from
    /// [`Self::service`] or a class's own distribution). Arrivals must come in time order.
    pub fn admit(&mut self, now: u64, service_us: u64) -> OriginOutcome {
        // Slots that have freed by now are idle.
        while let Some(Reverse(free_at)) = self.busy.peek() {
            if *free_at <= now {
                self.busy.pop();
            } else {
                break;
            }
        }
        let start = if self.busy.len() < self.capacity {
            now
        } else {
            match self.busy.peek() {
                Some(Reverse(free_at)) => *free_at,
                None => now,
            }
        };
        let wait = start - now.min(start);
        if wait > self.max_queue_us {
            self.overloaded += 1;
            return OriginOutcome::Overloaded;
        }
        if self.busy.len() >= self.capacity {
            self.busy.pop();
        }
        self.busy.push(Reverse(start.saturating_add(service_us)));
        self.peak_busy = self.peak_busy.max(self.busy.len());
        self.served += 1;
        self.busy_us += u128::from(service_us);
        OriginOutcome::Served {
            queue_us: wait,
            service_us,
        }
    }

    /// Draws a service time in microseconds from `dist` (milliseconds).
    pub fn draw_us(dist: &LogNormal, rng: &mut SimRng) -> u64 {
        let ms = dist.sample(rng);

        (ms * 1000.0).clamp(0.0, 3.6e9) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_capacity_no_queueing() {
        let mut o = OriginQueue::new(2, 1_000, LogNormal::from_p50_p99(1.0, 1.0));
        // (arrival, expected wait) for 100 us jobs on two slots: the first two start at once,
        // the third waits for the first slot (free at 100), and at 150 slot 2 (free at 110) is
        // idle again.
        for (t, queue_us) in [(0, 0), (10, 0), (20, 80), (150, 0)] {
            assert_eq!(
                o.admit(t, 100),
                OriginOutcome::Served {
                    queue_us,
                    service_us: 100
                },
                "arrival at {t}"
            );
        }
    }

    #[test]
    fn overload_when_queue_too_long() {
        let mut o = OriginQueue::new(1, 50, LogNormal::from_p50_p99(1.0, 1.0));
        assert!(matches!(o.admit(0, 1_000), OriginOutcome::Served { .. }));
        assert_eq!(o.admit(10, 1_000), OriginOutcome::Overloaded);
        assert_eq!(o.overloaded, 1);
        // After the slot frees, served again.
        assert!(matches!(
            o.admit(1_000, 10),
            OriginOutcome::Served { queue_us: 0, .. }
        ));
    }

    #[test]
    fn utilisation_law() {
        // M/M/c-ish: 80% load on 10 slots keeps waits small and nothing overloaded.
        let mut o = OriginQueue::new(10, 1_000_000, LogNormal::from_p50_p99(10.0, 30.0));
        let mut rng = SimRng::seed_from(4);
        let mean_service_us = o.service().mean() * 1000.0;
        let gap = mean_service_us / 8.0;
        let mut t = 0.0;
        for _ in 0..100_000 {
            t += crate::dist::exponential(&mut rng, gap);
            let s = OriginQueue::draw_us(&o.service(), &mut rng);
            o.admit(t as u64, s);
        }
        assert_eq!(o.overloaded, 0);
        let util = o.busy_us as f64 / (t * 10.0);
        assert!((util - 0.8).abs() < 0.05, "{util}");
    }
}
