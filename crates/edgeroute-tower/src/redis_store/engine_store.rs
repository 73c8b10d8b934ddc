//! [`SharedCounters`] as the engine's [`CounterStore`].
//!
//! The engine's counting rule ([`WindowState::apply`]) runs here, on the counts this instance
//! knows (its own at once, other instances' as of the last sync), under the counter's lock, so
//! a gateway gets exactly the engine's semantics with the shared store's error bound on top.
//! Mitigations (`mitigation_timeout > 0`) are kept per instance: each instance starts its own
//! when it sees the shared estimate cross the limit, which it does within one sync delay of the
//! first.

use edgeroute::CounterStore;
use edgeroute::ratelimit::{RateCheck, RateOutcome, WindowState};

use super::{FailMode, SharedCounters, WindowCounts};

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl CounterStore for SharedCounters {
    fn check(&self, query: &RateCheck) -> RateOutcome {
        let period_ms = u64::from(query.period_secs.max(1)).saturating_mul(1000);
        let now_ms = query.now.as_micros() / 1000;
        let window = now_ms / period_ms;
        let available = self.is_available();
        let mode = self.fail_mode();
        if !available && mode == FailMode::Closed {
            // Count it (Redis gets it once back), refuse it.
            self.update(key_of(query), period_ms, now_ms, |_, _| {
                (u64::from(query.count), ())
            });
            return RateOutcome {
                estimate: u32::MAX,
                limited: query.limit.is_some(),
                retry_after_secs: u32::from(query.limit.is_some()),
            };
        }
        self.update(key_of(query), period_ms, now_ms, |counts, mitigated| {
            let shared = if available || mode == FailMode::Local {
                counts
            } else {
                WindowCounts::default()
            };
            let mut state = WindowState {
                window: saturate(window),
                current: saturate(shared.current),
                previous: saturate(shared.previous),
                mitigated_until_s: if available || mode == FailMode::Local {
                    *mitigated
                } else {
                    0
                },
            };
            let before = state.current;
            let outcome = state.apply(query);
            if available || mode == FailMode::Local {
                *mitigated = state.mitigated_until_s;
            }
            (u64::from(state.current.saturating_sub(before)), outcome)
        })
    }

    fn key_count(&self) -> Option<usize> {
        Some(self.local_keys())
    }
}

fn key_of(query: &RateCheck) -> u64 {
    query.key.0
}
