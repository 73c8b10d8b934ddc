//! Policy names and parameters: `name[:key=value,...]`.

use std::fmt;
use std::str::FromStr;

/// S3-FIFO parameters, named and defaulted as in libCacheSim's `S3FIFO`.
///
/// The small queue holds `floor(capacity * small_size_ratio)`; the main queue the rest; the
/// ghost queue remembers evicted keys up to `floor(capacity * ghost_size_ratio)` (of their sizes;
/// 0 disables it). An object evicted from the small queue moves to the main queue if it was hit
/// at least `move_to_main_threshold` times while there, else its key goes to the ghost queue. A
/// miss on a ghost key inserts the object straight into the main queue. The main queue is a
/// CLOCK with a 2-bit counter. Two libCacheSim details are kept so counts compare one to one:
/// an object must be smaller than the small queue to be inserted (unless it comes from the
/// ghost), and until the first eviction, new objects go to the main queue once the small queue
/// is full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct S3FifoParams {
    /// Share of the capacity given to the small queue (default 0.10).
    pub small_size_ratio: f64,
    /// Ghost queue size as a share of the capacity (default 0.90).
    pub ghost_size_ratio: f64,
    /// Hits in the small queue that earn promotion to the main queue (default 2).
    pub move_to_main_threshold: u16,
}

impl Default for S3FifoParams {
    fn default() -> Self {
        Self {
            small_size_ratio: 0.10,
            ghost_size_ratio: 0.90,
            move_to_main_threshold: 2,
        }
    }
}

/// W-TinyLFU parameters.
///
/// A window LRU of `window_size` of the capacity admits every new object; objects leaving the
/// window enter the main cache (a segmented LRU: probation, and protected with
/// `protected_ratio` of the main space) only if the count-min sketch estimates them more
/// frequent than the main cache's victim. The sketch has 4-bit counters, 4 rows, a doorkeeper
/// bloom filter, and halves its counters every `10 x` its width of additions (aging).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WTinyLfuParams {
    /// Share of the capacity given to the window LRU (default 0.01).
    pub window_size: f64,
    /// Share of the main cache given to its protected segment (default 0.80).
    pub protected_ratio: f64,
}

impl Default for WTinyLfuParams {
    fn default() -> Self {
        Self {
            window_size: 0.01,
            protected_ratio: 0.80,
        }
    }
}

/// An eviction policy and its parameters. Parses from `name[:key=value,...]`; see the
/// [module docs](super) for the names.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum CachePolicy {
    /// Least recently used.
    Lru,
    /// First in, first out.
    Fifo,
    /// CLOCK with one reference bit.
    Clock,
    /// SIEVE.
    Sieve,
    /// S3-FIFO.
    S3Fifo(S3FifoParams),
    /// W-TinyLFU.
    WTinyLfu(WTinyLfuParams),
}

impl CachePolicy {
    /// Every policy name [`FromStr`] accepts, canonical spelling.
    pub const NAMES: &'static [&'static str] =
        &["lru", "fifo", "clock", "sieve", "s3fifo", "wtinylfu"];

    /// The canonical name, without parameters.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lru => "lru",
            Self::Fifo => "fifo",
            Self::Clock => "clock",
            Self::Sieve => "sieve",
            Self::S3Fifo(_) => "s3fifo",
            Self::WTinyLfu(_) => "wtinylfu",
        }
    }
}

impl fmt::Display for CachePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3Fifo(p) => write!(
                f,
                "s3fifo:small-size-ratio={},ghost-size-ratio={},move-to-main-threshold={}",
                p.small_size_ratio, p.ghost_size_ratio, p.move_to_main_threshold
            ),
            Self::WTinyLfu(p) => write!(
                f,
                "wtinylfu:window-size={},protected-ratio={}",
                p.window_size, p.protected_ratio
            ),
            other => f.write_str(other.name()),
        }
    }
}

/// Why a policy string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    /// The name is not a known policy.
    #[error("unknown cache policy `{name}` (known: {known})", known = CachePolicy::NAMES.join(", "))]
    UnknownPolicy {
        /// The name given.
        name: String,
    },
    /// The policy has no parameter of that name.
    #[error("policy `{policy}` has no parameter `{key}` (known: {known})")]
    UnknownParam {
        /// The policy.
        policy: &'static str,
        /// The parameter given.
        key: String,
        /// Its known parameters.
        known: &'static str,
    },
    /// A parameter is not `key=value`, or its value is out of range.
    #[error("bad value `{value}` for `{key}`: {expected}")]
    BadValue {
        /// The parameter.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

fn ratio(
    key: &str,
    value: &str,
    lo_inclusive: bool,
    hi_inclusive: bool,
) -> Result<f64, PolicyParseError> {
    let bad = |expected| PolicyParseError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    };
    let v: f64 = value.trim().parse().map_err(|_| bad("expected a number"))?;
    let lo_ok = if lo_inclusive { v >= 0.0 } else { v > 0.0 };
    let hi_ok = if hi_inclusive { v <= 1.0 } else { v < 1.0 };
    if v.is_finite() && lo_ok && hi_ok {
        Ok(v)
    } else {
        Err(bad(match (lo_inclusive, hi_inclusive) {
            (true, true) => "expected a ratio in [0, 1]",
            (false, false) => "expected a ratio in (0, 1)",
            (true, false) => "expected a ratio in [0, 1)",
            (false, true) => "expected a ratio in (0, 1]",
        }))
    }
}

/// `floor(amount * ratio)`, as libCacheSim computes its queue sizes (S3-FIFO's queues,
/// W-TinyLFU's window and protected segment).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a ratio in [0, 1] of a capacity: the product is non-negative and at most the capacity"
)]
pub(super) fn share(amount: u64, ratio: f64) -> u64 {
    (amount as f64 * ratio) as u64
}

impl FromStr for CachePolicy {
    type Err = PolicyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, params) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let lowered = name.trim().to_ascii_lowercase();
        let mut policy = match lowered.replace(['-', '_'], "").as_str() {
            "lru" => Self::Lru,
            "fifo" => Self::Fifo,
            "clock" => Self::Clock,
            "sieve" => Self::Sieve,
            "s3fifo" => Self::S3Fifo(S3FifoParams::default()),
            "wtinylfu" | "tinylfu" => Self::WTinyLfu(WTinyLfuParams::default()),
            _ => {
                return Err(PolicyParseError::UnknownPolicy {
                    name: name.to_owned(),
                });
            }
        };
        let pairs = params
            .into_iter()
            .flat_map(|p| p.split(','))
            .filter(|p| !p.trim().is_empty());
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(PolicyParseError::BadValue {
                    key: pair.trim().to_owned(),
                    value: String::new(),
                    expected: "expected `key=value`",
                });
            };
            let key = key.trim();
            match (&mut policy, key) {
                (Self::S3Fifo(p), "small-size-ratio") => {
                    p.small_size_ratio = ratio(key, value, false, false)?;
                }
                (Self::S3Fifo(p), "ghost-size-ratio") => {
                    p.ghost_size_ratio = ratio(key, value, true, true)?;
                }
                (Self::S3Fifo(p), "move-to-main-threshold") => {
                    p.move_to_main_threshold =
                        value
                            .trim()
                            .parse()
                            .map_err(|_| PolicyParseError::BadValue {
                                key: key.to_owned(),
                                value: value.to_owned(),
                                expected: "expected an integer 0..=65535",
                            })?;
                }
                (Self::WTinyLfu(p), "window-size") => {
                    p.window_size = ratio(key, value, true, false)?
                }
                (Self::WTinyLfu(p), "protected-ratio") => {
                    p.protected_ratio = ratio(key, value, true, true)?;
                }
                (other, _) => {
                    let known = match other {
                        Self::S3Fifo(_) => {
                            "small-size-ratio, ghost-size-ratio, move-to-main-threshold"
                        }
                        Self::WTinyLfu(_) => "window-size, protected-ratio",
                        _ => "none",
                    };
                    return Err(PolicyParseError::UnknownParam {
                        policy: other.name(),
                        key: key.to_owned(),
                        known,
                    });
                }
            }
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_round_trip() {
        for name in CachePolicy::NAMES {
            let p: CachePolicy = name.parse().unwrap();
            assert_eq!(p.name(), *name);
            assert_eq!(p.to_string().parse::<CachePolicy>().unwrap(), p);
        }
        assert_eq!("S3-FIFO".parse::<CachePolicy>().unwrap().name(), "s3fifo");
        assert_eq!(
            "W-TinyLFU".parse::<CachePolicy>().unwrap().name(),
            "wtinylfu"
        );
    }

    #[test]
    fn params_parse() {
        let p: CachePolicy = "s3fifo:small-size-ratio=0.2, move-to-main-threshold=1"
            .parse()
            .unwrap();
        assert_eq!(
            p,
            CachePolicy::S3Fifo(S3FifoParams {
                small_size_ratio: 0.2,
                ghost_size_ratio: 0.9,
                move_to_main_threshold: 1
            })
        );
        let p: CachePolicy = "wtinylfu:window-size=0.05".parse().unwrap();
        assert_eq!(
            p,
            CachePolicy::WTinyLfu(WTinyLfuParams {
                window_size: 0.05,
                protected_ratio: 0.8
            })
        );
    }

    #[test]
    fn bad_policies_are_errors() {
        let e = "lfru".parse::<CachePolicy>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown cache policy `lfru` (known: lru, fifo, clock, sieve, s3fifo, wtinylfu)"
        );
        let e = "lru:x=1".parse::<CachePolicy>().unwrap_err();
        assert!(
            e.to_string().contains("policy `lru` has no parameter `x`"),
            "{e}"
        );
        let e = "s3fifo:small-size-ratio=1.5"
            .parse::<CachePolicy>()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("bad value `1.5` for `small-size-ratio`"),
            "{e}"
        );
        let e = "s3fifo:small-size-ratio"
            .parse::<CachePolicy>()
            .unwrap_err();
        assert!(e.to_string().contains("key=value"), "{e}");
        assert!(
            "s3fifo:move-to-main-threshold=-1"
                .parse::<CachePolicy>()
                .is_err()
        );
        assert!(
            "s3fifo:small-size-ratio=NaN"
                .parse::<CachePolicy>()
                .is_err()
        );
    }
}
