//! The exact, asynchronous half of the shared counters: atomic per-window increments on Redis.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};

use super::{RedisCounterConfig, RedisCounterError};

/// One counter update sent to Redis: add `delta_current` to window `window` and `delta_previous`
/// to window `window - 1` of the counter `(key, period)`, and read both totals back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOp {
    /// The counter: a hash of the rule's stable id and the counting characteristics (client
    /// IP, header values, ...), such as the engine's `CounterKey`.
    pub key: u64,
    /// Window length in milliseconds (at least 1).
    pub period_ms: u64,
    /// Index of the current window: `now / period`.
    pub window: u64,
    /// Requests to add to the current window (0 only reads it).
    pub delta_current: u64,
    /// Requests to add to the previous window (0 only reads it).
    pub delta_previous: u64,
    /// Milliseconds since the shared epoch at which the op was built; sets the keys' expiry.
    pub now_ms: u64,
}

/// Totals read back from Redis for one [`WindowOp`], after its increments were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowTotals {
    /// All instances' count in window `window - 1`.
    pub previous: u64,
    /// All instances' count in window `window`.
    pub current: u64,
}

// KEYS: pairs (current window key, previous window key); ARGV: quadruples
// (delta current, delta previous, ttl current ms, ttl previous ms). One script call is atomic, so
// an increment and its expiry are never separated, and a reader never sees half a batch.
const SCRIPT: &str = r"
local out = {}
for j = 0, #KEYS / 2 - 1 do
  for w = 1, 2 do
    local k = KEYS[2 * j + w]
    local delta = tonumber(ARGV[4 * j + w])
    local ttl = tonumber(ARGV[4 * j + 2 + w])
    local v
    if delta > 0 then
      v = redis.call('INCRBY', k, delta)
      if redis.call('PTTL', k) < 0 then redis.call('PEXPIRE', k, ttl) end
    else
      v = tonumber(redis.call('GET', k) or '0') or 0
    end
    out[2 * j + w] = v
  end
end
return out
";

/// Exact shared sliding-window counters on one Redis server.
///
/// Every call is one atomic Lua script (`INCRBY` + `PEXPIRE` per key, then reads), bounded by the
/// configured timeout. The connection is a [`ConnectionManager`], which reconnects by itself after
/// the server went away. Use this directly for an exact check you can `await`; the synchronous
/// [`SharedCounters`](super::SharedCounters) batches through it in the background.
///
/// Keys are `{prefix}:{key:016x}:{period_ms}:{window}`; each expires one full period after
/// its window ended (when it stops being anybody's "previous window"), plus one second of margin
/// for clock skew between instances.
#[derive(Clone)]
pub struct RedisWindows {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
    timeout: Duration,
    max_batch: usize,
}

impl std::fmt::Debug for RedisWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWindows")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Margin added to every key's expiry for clock skew between gateway instances.
const SKEW_MARGIN_MS: u64 = 1_000;

impl RedisWindows {
    /// A client for the server at `config.url`. Does not connect yet (the first call does), so a
    /// gateway starts even while Redis is down.
    ///
    /// # Errors
    /// [`RedisCounterError::Config`] when the URL is not a valid Redis URL.
    pub fn new(config: &RedisCounterConfig) -> Result<Self, RedisCounterError> {
        let client = Client::open(config.url.as_str()).map_err(|e| RedisCounterError::Config {
            url: config.url.clone(),
            message: e.to_string(),
        })?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(config.timeout);
        let conn =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|e| {
                RedisCounterError::Config {
                    url: config.url.clone(),
                    message: e.to_string(),
                }
            })?;
        Ok(RedisWindows {
            conn,
            script: Script::new(SCRIPT),
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            max_batch: config.max_batch.max(1),
        })
    }

    /// The Redis key of window `window` of a counter.
    #[must_use]
    pub fn key_for(&self, key: u64, period_ms: u64, window: u64) -> String {
        format!("{}:{key:016x}:{period_ms}:{window}", self.prefix)
    }

    /// Applies `ops` atomically per batch of `max_batch` ops and returns the totals, in order.
    ///
    /// # Errors
    /// [`RedisCounterError::Timeout`] when a batch takes longer than the timeout,
    /// [`RedisCounterError::Redis`] when the server is unreachable or answers with an error. On
    /// error, batches already applied stay applied (each batch is atomic, the whole call is not).
    pub async fn apply(&self, ops: &[WindowOp]) -> Result<Vec<WindowTotals>, RedisCounterError> {
        let mut out = Vec::with_capacity(ops.len());
        for batch in ops.chunks(self.max_batch) {
            let mut inv = self.script.prepare_invoke();
            for op in batch {
                let period = op.period_ms.max(1);
                let cur_end = op.window.saturating_add(2).saturating_mul(period);
                let ttl_cur = cur_end
                    .saturating_sub(op.now_ms)
                    .saturating_add(SKEW_MARGIN_MS);
                let ttl_prev = cur_end
                    .saturating_sub(period)
                    .saturating_sub(op.now_ms)
                    .saturating_add(SKEW_MARGIN_MS);
                inv.key(self.key_for(op.key, period, op.window));
                inv.key(self.key_for(op.key, period, op.window.saturating_sub(1)));
                inv.arg(op.delta_current)
                    .arg(op.delta_previous)
                    .arg(ttl_cur.max(1))
                    .arg(ttl_prev.max(1));
            }
            let mut conn = self.conn.clone();
            let values: Vec<i64> =
                match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
                    Err(_) => return Err(RedisCounterError::Timeout(self.timeout)),
                    Ok(Err(e)) => return Err(RedisCounterError::from_redis(&e)),
                    Ok(Ok(v)) => v,
                };
            if values.len() != batch.len() * 2 {
                return Err(RedisCounterError::Protocol(format!(
                    "expected {} totals, got {}",
                    batch.len() * 2,
                    values.len()
                )));
            }
            for pair in values.chunks_exact(2) {
                if let [current, previous] = pair {
                    out.push(WindowTotals {
                        current: u64::try_from(*current).unwrap_or(0),
                        previous: u64::try_from(*previous).unwrap_or(0),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Sends `PING`; `Ok` when the server answered within the timeout.
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub async fn ping(&self) -> Result<(), RedisCounterError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut conn)).await {
            Err(_) => Err(RedisCounterError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(RedisCounterError::from_redis(&e)),
            Ok(Ok(_)) => Ok(()),
        }
    }
}
