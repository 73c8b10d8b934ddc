//! The admin port: Prometheus metrics and a liveness answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

/// What the admin port shows besides metrics.
pub(crate) trait Status: Send + Sync + 'static {
    /// A plain-text status page (health of regions, pools and endpoints, policy in force).
    fn status_text(&self) -> String;
}

/// Serves `GET /metrics` (Prometheus text format), `GET /healthz` and `GET /status` until the
/// process ends.
pub(crate) async fn serve(
    listener: TcpListener,
    prometheus: PrometheusHandle,
    status: Arc<dyn Status>,
) {
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        let prometheus = prometheus.clone();
        let status = Arc::clone(&status);
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let prometheus = prometheus.clone();
                let status = Arc::clone(&status);
                async move { Ok::<_, Infallible>(answer(&req, &prometheus, &*status)) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn answer<B>(
    req: &Request<B>,
    prometheus: &PrometheusHandle,
    status: &dyn Status,
) -> Response<Full<Bytes>> {
    if req.method() != http::Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            prometheus.render(),
        ),
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/status" => text(StatusCode::OK, "text/plain", status.status_text()),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Installs the global Prometheus recorder.
pub(crate) fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0,
        ])?
        .install_recorder()?;
    Ok(handle)
}

/// Binds the admin listener.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    Ok(TcpListener::bind(addr).await?)
}
