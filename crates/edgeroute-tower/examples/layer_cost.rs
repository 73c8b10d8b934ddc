//! Load-independent evidence for the layer's cost: runs N requests of the criterion bench's mix
//! (`benches/benches/tower.rs`) through one arm, so an instruction counter can tell what one
//! request costs whatever else the machine is doing:
//!
//! ```sh
//! cargo build --release -p edgeroute-tower --example layer_cost
//! for n in 2000 12000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/layer_cost layer $n
//! done   # instructions per request = (Ir(12000) - Ir(2000)) / 10000
//! ```
//!
//! Arms: `setup` (build and drop the requests only), `bare` (a `service_fn` answering 200),
//! `decide` (`with_request_view` + `Engine::decide`), `layer`, `layer_metrics`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use edgeroute::{Engine, Policy, Timestamp};
use edgeroute_tower::{Clock, ManualClock, PolicyLayer, with_request_view};
use tower::{Layer, Service};

#[path = "common/request_mix.rs"]
mod request_mix;

use request_mix::{inner, request};

fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let arm = args.next().unwrap_or_else(|| "layer".into());
    let n: u32 = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let text = include_str!("../../../policies/aybiza.toml");
    let (policy, _) = Policy::from_toml_str(text, "aybiza.toml", None)?;
    let engine = Arc::new(Engine::new(policy));
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let layer = |metrics| {
        PolicyLayer::new(Arc::clone(&engine))
            .with_clock(clock.clone())
            .with_metrics(metrics)
            .layer(tower::service_fn(inner))
    };
    let mut bare = tower::service_fn(inner);
    let mut plain = layer(false);
    let mut metered = layer(true);
    let mut forwarded = 0u32;
    for i in 0..n {
        clock.advance(Duration::from_millis(1));
        let req = request(i, false);
        let status = match arm.as_str() {
            "setup" => black_box(req).headers().len() as u16,
            "bare" => poll_once(bare.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16())),
            "decide" => {
                let now = Timestamp::from_micros(u64::try_from(clock.now().as_micros())?);
                let d = with_request_view(&req, |v| engine.decide(v, now));
                u16::from(d.action.forwards()) + 199
            }
            "layer" => {
                poll_once(plain.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16()))
            }
            "layer_metrics" => {
                poll_once(metered.call(req)).map_or(0, |r| r.map_or(0, |r| r.status().as_u16()))
            }
            other => return Err(format!("unknown arm `{other}`").into()),
        };
        forwarded += u32::from(status == 200);
    }
    println!("{arm}: {n} requests, {forwarded} answered 200");
    Ok(())
}
