//! Synchronous shared counters: count locally, sync with Redis in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::remote::{RedisWindows, WindowOp};
use super::table::{SlotId, Table};
use super::{FailMode, RedisCounterConfig, RedisCounterError, WindowCounts};

/// What [`SharedCounters::count`] reads for every counter while Redis is unavailable and the
/// fail mode is [`FailMode::Closed`]: far above any sane limit.
pub const EXHAUSTED: u64 = u32::MAX as u64;

/// Counters of the background sync, for tests and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// Syncs that Redis answered.
    pub syncs: u64,
    /// Syncs that failed or timed out.
    pub failures: u64,
    /// Counter updates sent in successful syncs.
    pub ops: u64,
}

#[derive(Debug)]
struct Inner {
    table: Table,
    remote: RedisWindows,
    fail_mode: FailMode,
    flush_interval: Duration,
    refresh_interval: Duration,
    available: AtomicBool,
    wake: Notify,
    /// One sync at a time (the background task's or [`SharedCounters::sync_now`]'s): a sync's
    /// answer is settled as "Redis's total after our increment", so two syncs completing in
    /// the other order than Redis applied them would count the first one's increment twice.
    sync: tokio::sync::Mutex<()>,
    latest_now_ms: AtomicU64,
    syncs: AtomicU64,
    failures: AtomicU64,
    ops: AtomicU64,
}

#[derive(Debug)]
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sliding-window counters shared by gateway instances through Redis, readable synchronously.
///
/// [`count`](Self::count) never waits on the network: it adds to a local table and returns what
/// this instance knows of every instance's counts. A background task (spawned on the current
/// tokio runtime, stopped when the last clone is dropped) sends local increments to Redis and
/// reads totals back. See the [module docs](super) for the error bound and the failure modes.
///
/// Windows are aligned to multiples of the period since the epoch of the `now` values passed
/// in, so instances sharing a limit must pass times with a common epoch, such as
/// [`MonotonicClock`](crate::MonotonicClock)'s (the Unix epoch, read once at start).
#[derive(Debug, Clone)]
pub struct SharedCounters {
    inner: Arc<Inner>,
    _task: Arc<TaskGuard>,
}

impl SharedCounters {
    /// Starts the counters and their sync task on the current tokio runtime. Checks once that
    /// Redis answers; if it does not, the counters start unavailable (the fail mode applies) and
    /// keep retrying.
    ///
    /// # Errors
    /// [`RedisCounterError::Config`] for a bad URL or when called outside a tokio runtime.
    pub async fn connect(config: &RedisCounterConfig) -> Result<Self, RedisCounterError> {
        let handle =
            tokio::runtime::Handle::try_current().map_err(|e| RedisCounterError::Config {
                url: config.url.clone(),
                message: format!("shared counters need a tokio runtime: {e}"),
            })?;
        let remote = RedisWindows::new(config)?;
        let available = remote.ping().await.is_ok();
        let inner = Arc::new(Inner {
            table: Table::new(config.max_keys),
            remote,
            fail_mode: config.fail_mode,
            flush_interval: config.flush_interval,
            refresh_interval: config.refresh_interval.max(config.flush_interval),
            available: AtomicBool::new(available),
            wake: Notify::new(),
            sync: tokio::sync::Mutex::new(()),
            latest_now_ms: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ops: AtomicU64::new(0),
        });
        metrics::gauge!("edgeroute_redis_available").set(if available { 1.0 } else { 0.0 });
        let task = handle.spawn(sync_loop(Arc::clone(&inner)));
        Ok(SharedCounters {
            inner,
            _task: Arc::new(TaskGuard(task)),
        })
    }

    /// Adds `by` requests (0 only reads) to counter `key` with window length `period` at `now`
    /// (time since the shared epoch) and returns its window counts, as this instance knows
    /// them, with the fail mode applied while Redis is unavailable. Never blocks on the network.
    #[must_use]
    pub fn count(&self, key: u64, period: Duration, now: Duration, by: u64) -> WindowCounts {
        let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let counts = self.update(key, period_ms, now_ms, |c, _| (by, c.plus(by)));
        if self.is_available() {
            return counts;
        }
        match self.inner.fail_mode {
            FailMode::Open => WindowCounts::default(),
            FailMode::Closed => WindowCounts {
                previous: 0,
                current: EXHAUSTED,
            },
            FailMode::Local => counts,
        }
    }

    /// Runs `f` on counter `key`'s counts (as known here) and mitigation end, under its lock;
    /// `f` returns how many requests to add and a result. Wakes the sync task.
    pub(crate) fn update<R: Default>(
        &self,
        key: u64,
        period_ms: u64,
        now_ms: u64,
        f: impl FnOnce(WindowCounts, &mut u32) -> (u64, R),
    ) -> R {
        self.inner
            .latest_now_ms
            .fetch_max(now_ms, Ordering::Relaxed);
        let id = SlotId { key, period_ms };
        let out = self.inner.table.update(id, now_ms / period_ms.max(1), f);
        self.inner.wake.notify_one();
        out
    }

    /// Whether the last sync with Redis succeeded.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::Relaxed)
    }

    /// The fail mode in force.
    #[must_use]
    pub fn fail_mode(&self) -> FailMode {
        self.inner.fail_mode
    }

    /// Sync statistics so far.
    #[must_use]
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.inner.syncs.load(Ordering::Relaxed),
            failures: self.inner.failures.load(Ordering::Relaxed),
            ops: self.inner.ops.load(Ordering::Relaxed),
        }
    }

    /// Number of counters held locally.
    #[must_use]
    pub fn local_keys(&self) -> usize {
        self.inner.table.len()
    }

    /// Syncs every live counter now, in this task (besides the background task), and returns
    /// the outcome. For tests and for a final flush at shutdown.
    ///
    /// # Errors
    /// As [`RedisWindows::apply`].
    pub async fn sync_now(&self) -> Result<(), RedisCounterError> {
        sync_once(&self.inner, true).await
    }

    /// The exact client underneath, for an awaited, exact check.
    #[must_use]
    pub fn remote(&self) -> &RedisWindows {
        &self.inner.remote
    }
}

async fn sync_once(inner: &Inner, refresh: bool) -> Result<(), RedisCounterError> {
    let _one_at_a_time = inner.sync.lock().await;
    let now_ms = inner.latest_now_ms.load(Ordering::Relaxed);
    let mut ops: Vec<WindowOp> = Vec::new();
    inner.table.take_ops(now_ms, refresh, &mut ops);
    if ops.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let result = inner.remote.apply(&ops).await;
    metrics::histogram!("edgeroute_redis_sync_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(totals) => {
            inner.table.complete(&ops, &totals);
            inner.syncs.fetch_add(1, Ordering::Relaxed);
            inner.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
            if !inner.available.swap(true, Ordering::Relaxed) {
                metrics::gauge!("edgeroute_redis_available").set(1.0);
            }
            Ok(())
        }
        Err(e) => {
            inner.table.fail(&ops);
            inner.failures.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("edgeroute_redis_sync_failures_total").increment(1);
            if inner.available.swap(false, Ordering::Relaxed) {
                metrics::gauge!("edgeroute_redis_available").set(0.0);
            }
            Err(e)
        }
    }
}

async fn sync_loop(inner: Arc<Inner>) {
    let mut last_refresh = Instant::now();
    loop {
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(inner.refresh_interval) => {}
        }
        let started = Instant::now();
        let refresh = last_refresh.elapsed() >= inner.refresh_interval;
        if refresh {
            last_refresh = started;
        }
        // Failures are recorded in `available` and the metrics; the loop retries.
        let _ = sync_once(&inner, refresh).await;
        // At most one sync per flush interval: increments arriving meanwhile batch up.
        let spent = started.elapsed();
        if let Some(rest) = inner.flush_interval.checked_sub(spent) {
            tokio::time::sleep(rest).await;
        }
    }
}
