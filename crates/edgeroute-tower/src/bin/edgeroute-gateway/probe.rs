//! Active HTTP health probes against upstream endpoints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeroute::Engine;
use edgeroute::routing::MonitorKind;
use edgeroute_tower::{Clock, MonotonicClock};

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One probe's settings.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// Where to connect.
    pub(crate) addr: SocketAddr,
    /// `Host` header to send.
    pub(crate) host: String,
    /// Path to request (`/health`).
    pub(crate) path: String,
    /// Whole-probe timeout (connect, send, response head).
    pub(crate) timeout: Duration,
    /// `false`: plain TCP connect check.
    pub(crate) http: bool,
}

/// Why a probe failed, or the status it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeResult {
    /// A response with this status (or, for TCP probes, 200 for "connected").
    Status(u16),
    /// Connect refused or failed.
    ConnectFailed,
    /// No answer in time.
    TimedOut,
}

/// Runs one probe.
pub(crate) async fn probe(p: &Probe) -> ProbeResult {
    match tokio::time::timeout(p.timeout, probe_inner(p)).await {
        Ok(r) => r,
        Err(_) => ProbeResult::TimedOut,
    }
}

async fn probe_inner(p: &Probe) -> ProbeResult {
    let Ok(stream) = TcpStream::connect(p.addr).await else {
        return ProbeResult::ConnectFailed;
    };
    if !p.http {
        return ProbeResult::Status(200);
    }
    let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
        return ProbeResult::ConnectFailed;
    };
    let driver = tokio::spawn(conn);
    let req = Request::get(p.path.as_str())
        .header(http::header::HOST, p.host.as_str())
        .header(http::header::USER_AGENT, "edgeroute-gateway-probe")
        .body(Empty::<Bytes>::new());
    let result = match req {
        Ok(req) => match sender.send_request(req).await {
            Ok(resp) => ProbeResult::Status(resp.status().as_u16()),
            Err(_) => ProbeResult::ConnectFailed,
        },
        Err(_) => ProbeResult::ConnectFailed,
    };
    driver.abort();
    result
}

/// Probes every monitored endpoint of the engine's current policy on its monitor's interval
/// and reports each check (after its retries) to the engine's health table. Targets are re-read
/// from the policy on every tick, so a reload's new monitors take effect at once; endpoints are
/// keyed by their stable health key, so a reload keeps their state.
pub(crate) async fn run_monitors(
    engine: Arc<Engine>,
    resolve: HashMap<String, SocketAddr>,
    clock: MonotonicClock,
) {
    let mut next_due: HashMap<String, Instant> = HashMap::new();
    let mut in_flight: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut warned: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        let now = Instant::now();
        let mut soonest = now + Duration::from_secs(1);
        let targets: Vec<(String, String, Probe, u32, u64)> = {
            let policy = engine.policy();
            let Some(rt) = policy.routing() else {
                drop(policy);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            rt.probe_targets()
                .filter_map(|t| {
                    let addr = resolve
                        .get(t.address)
                        .copied()
                        .or_else(|| t.address.parse().ok());
                    let Some(addr) = addr else {
                        if warned.insert(t.key.to_owned()) {
                            eprintln!(
                                "edgeroute-gateway: cannot probe `{}`: no --resolve for it",
                                t.address
                            );
                        }
                        return None;
                    };
                    let m = t.monitor;
                    Some((
                        t.key.to_owned(),
                        m.name().to_owned(),
                        Probe {
                            addr,
                            host: t.address.to_owned(),
                            path: m.path().to_owned(),
                            timeout: Duration::from_millis(m.timeout_ms().max(1)),
                            http: !matches!(m.kind(), MonitorKind::Tcp),
                        },
                        m.retries(),
                        m.interval_ms().max(10),
                    ))
                })
                .collect()
        };
        in_flight.retain(|_, h| !h.is_finished());
        for (key, _monitor, spec, retries, interval_ms) in targets {
            let due = next_due.get(&key).copied().unwrap_or(now);
            if due > now {
                soonest = soonest.min(due);
                continue;
            }
            let next = now + Duration::from_millis(interval_ms);
            next_due.insert(key.clone(), next);
            soonest = soonest.min(next);
            if in_flight.contains_key(&key) {
                continue;
            }
            let engine = Arc::clone(&engine);
            let k = key.clone();
            in_flight.insert(
                key,
                tokio::spawn(async move {
                    let mut ok = false;
                    let mut last = ProbeResult::ConnectFailed;
                    for _ in 0..=retries {
                        last = probe(&spec).await;
                        let passed = {
                            let policy = engine.policy();
                            let expects = |s: u16| {
                                policy
                                    .routing()
                                    .and_then(|rt| {
                                        rt.probe_targets()
                                            .find(|t| t.key == k)
                                            .map(|t| t.monitor.expects(s))
                                    })
                                    .unwrap_or((200..300).contains(&s))
                            };
                            matches!(last, ProbeResult::Status(s) if !spec.http || expects(s))
                        };
                        if passed {
                            ok = true;
                            break;
                        }
                    }
                    let now_ms = u64::try_from(clock.now().as_millis()).unwrap_or(u64::MAX);
                    let policy = engine.policy();
                    if let Some(rt) = policy.routing() {
                        let effect = engine.health().report_probe(rt, &k, ok, now_ms);
                        if effect.became_down > 0 {
                            eprintln!("edgeroute-gateway: `{k}` is down ({last:?})");
                        }
                        if effect.became_up > 0 {
                            eprintln!("edgeroute-gateway: `{k}` is up");
                        }
                    }
                    metrics::counter!(
                        "edgeroute_health_probes_total",
                        "result" => if ok { "ok" } else { "failed" },
                    )
                    .increment(1);
                }),
            );
        }
        let wait = soonest.saturating_duration_since(Instant::now());
        tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_fails_to_connect() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let p = Probe {
            addr,
            host: "x".into(),
            path: "/health".into(),
            timeout: Duration::from_secs(1),
            http: true,
        };
        assert_eq!(probe(&p).await, ProbeResult::ConnectFailed);
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let p = Probe {
            addr,
            host: "x".into(),
            path: "/health".into(),
            timeout: Duration::from_millis(100),
            http: true,
        };
        assert_eq!(probe(&p).await, ProbeResult::TimedOut);
        hold.abort();
    }
}
