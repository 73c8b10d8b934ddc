//! The example gateway, started as a process, with two local upstreams, driven by a real HTTP
//! client over loopback. Every loop is bounded in count and time.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::JoinSet;

/// A local upstream: answers `/health` with 200 (or 503 when sick) and everything else with
/// `upstream NAME` plus the request headers it got.
pub struct Upstream {
    pub name: &'static str,
    pub addr: SocketAddr,
    sick: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(name: &'static str, addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sick = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&sick);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sick = Arc::clone(&s);
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let sick = sick.load(Ordering::Relaxed);
                        async move {
                            let mut text = format!("upstream {name}\n");
                            for (n, v) in req.headers() {
                                text.push_str(&format!(
                                    "{n}: {}\n",
                                    String::from_utf8_lossy(v.as_bytes())
                                ));
                            }
                            let status = if req.uri().path() == "/health" && sick {
                                StatusCode::SERVICE_UNAVAILABLE
                            } else {
                                StatusCode::OK
                            };
                            let mut r = Response::new(Full::new(Bytes::from(text)));
                            *r.status_mut() = status;
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            // (Aborting the task drops the JoinSet, which aborts every connection.)
        });
        Upstream {
            name,
            addr,
            sick,
            task,
        }
    }

    /// Stops accepting and closes every connection: the port refuses from now on.
    pub fn kill(&self) {
        self.task.abort();
    }

    #[allow(dead_code, reason = "used by some tests")]
    pub fn set_sick(&self, sick: bool) {
        self.sick.store(sick, Ordering::Relaxed);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The gateway process; killed on drop.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Gateway {
    pub fn start(policy: Option<&Path>, upstreams: &[&Upstream], extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgeroute-gateway"));
        cmd.args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
        cmd.args(["--watch-ms", "50"]);
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        for u in upstreams {
            cmd.arg("--resolve")
                .arg(format!("up-{}.test={}", u.name, u.addr));
        }
        cmd.args(extra);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start edgeroute-gateway");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            s
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gateway did not print its addresses within 30 s");
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 6, "unexpected first line {line:?}");
        Gateway {
            child,
            addr: parts[2].parse().unwrap(),
            admin: parts[5].parse().unwrap(),
            stderr: Some(stderr),
        }
    }

    pub fn sighup(&self) {
        let st = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Stops the gateway and returns what it wrote on stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn send(
    client: &HttpClient,
    gw: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{gw}{path}"))
        .header("host", "api.test");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(b.body(Empty::new()).unwrap()),
    )
    .await
    .expect("gateway answered within 10 s")
    .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn policy_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/gateway.toml"
    ))
}

#[test]
fn the_test_policy_loads() {
    let (_p, warnings) = edgeroute::Policy::load(&policy_path(), None).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_blocks_limits_answers_cors_edits_headers_and_routes() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gw = Gateway::start(Some(&policy_path()), &[&a, &b], &[]);
    let c = client();
    let client_ip = [("cf-connecting-ip", "81.2.69.160"), ("cf-ipcountry", "GB")];

    let r = send(&c, gw.addr, "GET", "/admin/users", &client_ip).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, "no admin here");
    assert_eq!(r.headers["x-frame-options"], "DENY");

    let r = send(&c, gw.addr, "GET", "/suspicious", &client_ip).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.headers["x-edgeroute-challenge"], "managed_challenge");

    for i in 0..5 {
        let r = send(&c, gw.addr, "GET", "/limited", &client_ip).await;
        assert_eq!(r.status, StatusCode::OK, "request {}", i + 1);
    }
    let r = send(&c, gw.addr, "GET", "/limited", &client_ip).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u32 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // Up to two periods: the next window still carries this one's count.
    assert!((1..=120).contains(&retry), "retry-after {retry}");
    let other = [("cf-connecting-ip", "81.2.69.161")];
    assert_eq!(
        send(&c, gw.addr, "GET", "/limited", &other).await.status,
        StatusCode::OK
    );

    let r = send(
        &c,
        gw.addr,
        "OPTIONS",
        "/api",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["access-control-allow-origin"], "https://app.test");
    assert!(
        r.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let mut seen_a = 0;
    let mut seen_b = 0;
    for _ in 0..40 {
        let r = send(&c, gw.addr, "GET", "/hello", &client_ip).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("x-edge-region: us-east-1"), "{}", r.body);
        assert!(r.body.contains("x-edge-country: GB"), "{}", r.body);
        assert!(r.body.contains("x-forwarded-for: "), "{}", r.body);
        assert_eq!(r.headers["x-frame-options"], "DENY");
        if r.body.starts_with("upstream a") {
            seen_a += 1;
        } else if r.body.starts_with("upstream b") {
            seen_b += 1;
        }
    }
    assert_eq!(seen_a + seen_b, 40);
    assert!(
        seen_a > 0 && seen_b > 0,
        "random steering used both: a {seen_a}, b {seen_b}"
    );

    // A host the policy does not serve.
    let req = Request::get(format!("http://{}/", gw.addr))
        .header("host", "elsewhere.test")
        .body(Empty::new())
        .unwrap();
    let r = c.request(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);

    // Metrics on the admin port.
    let req = Request::get(format!("http://{}/metrics", gw.admin))
        .body(Empty::new())
        .unwrap();
    let r = c.request(req).await.unwrap();
    let text =
        String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned();
    assert!(
        text.contains("edgeroute_decisions_total{action=\"block\""),
        "{text}"
    );
    assert!(
        text.contains("edgeroute_rule_matches_total{rule=\"no-admin\""),
        "{text}"
    );
    assert!(text.contains("edgeroute_decide_seconds"), "{text}");
}

/// One request of a load loop: when it was sent (since the start), its status, and which
/// upstream answered.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    status: StatusCode,
    upstream: Option<char>,
}

async fn sample(c: &HttpClient, gw: SocketAddr, path: &str, start: Instant) -> Sample {
    let at = start.elapsed();
    let r = send(c, gw, "GET", path, &[("cf-connecting-ip", "81.2.69.160")]).await;
    let upstream = r
        .body
        .strip_prefix("upstream ")
        .and_then(|s| s.chars().next());
    Sample {
        at,
        status: r.status,
        upstream,
    }
}

/// Kill one upstream under steady traffic: the gateway stops sending to it within
/// interval × consecutive_down (+ one probe timeout and scheduling slack), and the only failed
/// requests are those sent to it before that (the policy has no retry rules: a request already
/// routed to the dead endpoint fails with 502).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upstream_stops_getting_traffic_within_the_detection_window() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gw = Gateway::start(Some(&policy_path()), &[&a, &b], &[]);
    let c = client();
    // Monitor "fast": interval 200 ms, timeout 100 ms, consecutive_down 2.
    let detection = Duration::from_millis(200 * 2 + 100);
    // Scheduling slack for a loaded 2-core CI machine (five gateway processes run at once).
    let slack = Duration::from_millis(700);
    let start = Instant::now();
    let mut samples = Vec::new();
    // Warm up: both upstreams serve.
    for _ in 0..30 {
        samples.push(sample(&c, gw.addr, "/work", start).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(samples.iter().all(|s| s.status == StatusCode::OK));
    let killed_at = start.elapsed();
    b.kill();
    let until = killed_at + Duration::from_millis(2500);
    while start.elapsed() < until && samples.len() < 2000 {
        samples.push(sample(&c, gw.addr, "/work", start).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = killed_at + detection + slack;
    let late: Vec<&Sample> = samples.iter().filter(|s| s.at > deadline).collect();
    assert!(
        late.len() > 20,
        "too few samples after the deadline: {}",
        late.len()
    );
    for s in &late {
        assert_eq!(s.status, StatusCode::OK, "after the switch: {s:?}");
        assert_eq!(s.upstream, Some('a'), "after the switch: {s:?}");
    }
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.status != StatusCode::OK)
        .collect();
    for s in &failed {
        assert!(
            s.at >= killed_at && s.at <= deadline,
            "failure outside the switch: {s:?}"
        );
        assert_eq!(s.status, StatusCode::BAD_GATEWAY, "{s:?}");
    }
    let last_failure = failed.iter().map(|s| s.at - killed_at).max();
    eprintln!(
        "failover: {} samples, {} failed (502) during the switch, the last {:?} after the kill \
         (detection window {:?})",
        samples.len(),
        failed.len(),
        last_failure,
        detection
    );
    let log = gw.stop();
    assert!(
        log.contains("up-b.test") && log.contains("is down"),
        "{log}"
    );
}

fn write_policy(path: &Path, frame_options: &str, extra: &str) {
    let text = std::fs::read_to_string(policy_path()).unwrap().replace(
        "\"X-Frame-Options\" = \"DENY\"",
        &format!("\"X-Frame-Options\" = \"{frame_options}\""),
    );
    // Write to a temporary name and rename: the watcher never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{text}\n{extra}")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Reload while four clients send requests: no request fails, and the new policy takes
/// effect; a bad file is refused and the old policy keeps serving; SIGHUP reloads too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_request() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let dir = std::env::temp_dir().join(format!("edgeroute-gw-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.toml");
    write_policy(&path, "DENY", "");
    let gw = Gateway::start(Some(&path), &[&a, &b], &[]);
    let addr = gw.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let mut loaders = JoinSet::new();
    for _ in 0..4 {
        let stop = Arc::clone(&stop);
        loaders.spawn(async move {
            let c = client();
            let mut seen = Vec::new();
            // Bounded: at most 3,000 requests or until told to stop.
            for _ in 0..3_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = send(&c, addr, "GET", "/load", &[]).await;
                seen.push((r.status, r.headers.get("x-frame-options").cloned()));
            }
            seen
        });
    }
    let c = client();
    let frame = |r: &Answer| r.headers["x-frame-options"].to_str().unwrap().to_owned();
    async fn wait_for(c: &HttpClient, addr: SocketAddr, want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let r = send(c, addr, "GET", "/probe", &[]).await;
            if r.headers["x-frame-options"] == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 1. The file changes: picked up by the watcher.
    write_policy(&path, "SAMEORIGIN", "");
    assert!(
        wait_for(&c, addr, "SAMEORIGIN").await,
        "file change not picked up"
    );
    // 2. A bad file: refused, the old policy keeps serving.
    write_policy(
        &path,
        "DENY",
        "[[firewall.rules]]\nid = \"broken\"\nexpression = \"http.nope eq 1\"\naction = \"block\"\n",
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = send(&c, addr, "GET", "/probe", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        frame(&r),
        "SAMEORIGIN",
        "a bad policy must not replace the good one"
    );
    // 3. Fixed file, and SIGHUP (the watcher may also see it; either reloads).
    write_policy(&path, "DENY", "");
    gw.sighup();
    assert!(
        wait_for(&c, addr, "DENY").await,
        "reload after fix not picked up"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut values = std::collections::BTreeSet::new();
    while let Some(seen) = loaders.join_next().await {
        for (status, fo) in seen.unwrap() {
            total += 1;
            assert_eq!(status, StatusCode::OK, "a request failed during reloads");
            values.insert(fo.unwrap().to_str().unwrap().to_owned());
        }
    }
    assert!(total > 100, "load too small: {total}");
    assert!(
        values.contains("DENY") && values.contains("SAMEORIGIN"),
        "{values:?}"
    );
    let log = gw.stop();
    assert!(log.contains("reload of") && log.contains("failed"), "{log}");
    assert!(
        log.contains("http.nope"),
        "the error names the bad field: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends raw bytes on a fresh connection and returns what came back before the gateway closed
/// or `wait` passed (never hangs).
fn raw(gw: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(gw).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.set_write_timeout(Some(wait)).unwrap();
    // A server may close while a huge request is still being written: that is an answer too.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_defined_answers() {
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let gw = Gateway::start(
        Some(&policy_path()),
        &[&a, &b],
        &["--header-timeout-s", "1"],
    );
    let addr = gw.addr;
    let wait = Duration::from_secs(5);
    let answers = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        // Non-UTF-8 header values are forwarded as bytes.
        out.push(("non-utf8", raw(
            addr,
            b"GET /x HTTP/1.1\r\nHost: api.test\r\nx-bin: \xff\xfe\xfd\r\ncf-ipcountry: \xc3\x28\r\nConnection: close\r\n\r\n",
            wait,
        )));
        // A 1,000-entry x-forwarded-for.
        let xff = (0..1000).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect::<Vec<_>>().join(", ");
        out.push(("xff-1000", raw(
            addr,
            format!("GET /x HTTP/1.1\r\nHost: api.test\r\nx-forwarded-for: {xff}\r\nConnection: close\r\n\r\n").as_bytes(),
            wait,
        )));
        // Invalid IPs in the client-IP headers.
        out.push(("bad-ip", raw(
            addr,
            b"GET /x HTTP/1.1\r\nHost: api.test\r\ncf-connecting-ip: 999.1.2.3\r\nx-forwarded-for: not-an-ip, ::zz\r\nConnection: close\r\n\r\n",
            wait,
        )));
        // HTTP/1.0 without Host: no service can match.
        out.push(("http10-no-host", raw(addr, b"GET /x HTTP/1.0\r\n\r\n", wait)));
        // A 10 MB header.
        let mut big = b"GET /x HTTP/1.1\r\nHost: api.test\r\nx-big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
        big.extend_from_slice(b"\r\n\r\n");
        out.push(("10mb-header", raw(addr, &big, wait)));
        // A client that never finishes its head is cut off by the header timeout.
        let started = Instant::now();
        let slow = raw(addr, b"GET /x HTTP/1.1\r\nHost: api.test\r\nx-slow: 1\r\n", Duration::from_secs(5));
        out.push(("slow-head", format!("{slow}|{}", started.elapsed().as_millis())));
        out
    })
    .await
    .unwrap();
    for (name, answer) in &answers {
        eprintln!("{name}: {:?}", answer.lines().next().unwrap_or(""));
        match *name {
            "non-utf8" | "xff-1000" | "bad-ip" => {
                assert_eq!(status_of(answer), 200, "{name}: {answer}");
            }
            "http10-no-host" => assert_eq!(status_of(answer), 421, "{name}: {answer}"),
            "10mb-header" => assert_eq!(status_of(answer), 431, "{name}: {answer:.200}"),
            "slow-head" => {
                let (text, ms) = answer.rsplit_once('|').unwrap();
                let ms: u64 = ms.parse().unwrap();
                assert!(ms < 4_000, "slow head held for {ms} ms");
                // hyper answers 408 or just closes; both end the connection.
                assert!(text.is_empty() || status_of(text) == 408, "{text}");
            }
            _ => unreachable!(),
        }
    }
    // Still serving.
    let c = client();
    assert_eq!(
        send(&c, addr, "GET", "/after", &[]).await.status,
        StatusCode::OK
    );
    let log = gw.stop();
    assert!(!log.contains("panicked"), "{log}");
}

/// Two gateway processes sharing one redis-server enforce the test policy's limit (5 a minute
/// per client IP on `/limited`) together, within the documented bound; with Redis stopped and
/// `--redis-fail closed`, counted requests are refused and the rest still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_enforce_one_limit() {
    let mut redis = crate::redis_server::RedisServer::start();
    let a = Upstream::start("a").await;
    let b = Upstream::start("b").await;
    let url = redis.url();
    let flags = ["--redis", url.as_str(), "--redis-fail", "closed"];
    let g1 = Gateway::start(Some(&policy_path()), &[&a, &b], &flags);
    let g2 = Gateway::start(Some(&policy_path()), &[&a, &b], &flags);
    let c = client();
    let ip = [("cf-connecting-ip", "81.2.69.200")];
    let pace = Duration::from_millis(20);
    let mut admitted = 0u32;
    for i in 0..30 {
        let gw = if i % 2 == 0 { g1.addr } else { g2.addr };
        let r = send(&c, gw, "GET", "/limited", &ip).await;
        match r.status {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            s => panic!("unexpected {s}"),
        }
        tokio::time::sleep(pace).await;
    }
    let cfg = edgeroute_tower::RedisCounterConfig::new(url.clone());
    let rate = 1.0 / (2.0 * pace.as_secs_f64());
    let bound = cfg.overshoot_bound(2, rate, Duration::from_millis(5));
    eprintln!("two gateways: admitted {admitted} of 30 (limit 5, bound +{bound:.1})");
    assert!(admitted >= 5, "admitted {admitted}");
    assert!(f64::from(admitted) <= 5.0 + bound, "admitted {admitted}");
    assert!(
        admitted < 10,
        "admitted {admitted}: each gateway counted alone"
    );

    redis.stop();
    let fresh = [("cf-connecting-ip", "81.2.69.201")];
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut refused = false;
    while Instant::now() < deadline {
        if send(&c, g1.addr, "GET", "/limited", &fresh).await.status
            == StatusCode::TOO_MANY_REQUESTS
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "fail-closed gateway kept admitting with redis down"
    );
    let r = send(&c, g1.addr, "GET", "/hello", &fresh).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "requests no rate limit counts still pass"
    );
}
