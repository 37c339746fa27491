//! The network side of a simulated BMC: one loopback listener per node, serving HTTPS and plain HTTP
//! on the same port (the first byte tells a TLS ClientHello from an HTTP request), with latency and
//! fault injection applied before each request reaches the Redfish service.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::faults::{FaultKind, Injector};
use crate::node::NodeSim;
use crate::redfish;

/// Largest request body a BMC accepts; real BMCs refuse big bodies too.
const MAX_BODY: usize = 1 << 20;

/// Accepts connections until `shutdown` fires, handing each to `on_connection`. Shared by the BMCs,
/// the switches and the control endpoint.
pub async fn accept_loop(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    mut on_connection: impl FnMut(TcpStream),
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    on_connection(stream);
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Serves one node's BMC until `shutdown` fires.
pub async fn serve_bmc(
    listener: TcpListener,
    node: Arc<NodeSim>,
    faults: Arc<Injector>,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, |stream| {
        tokio::spawn(connection(
            stream,
            node.clone(),
            faults.clone(),
            tls.clone(),
        ));
    })
    .await;
}

async fn connection(
    stream: TcpStream,
    node: Arc<NodeSim>,
    faults: Arc<Injector>,
    tls: Option<TlsAcceptor>,
) {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) => {}
        _ => return,
    }
    let svc = service_fn(move |req| handle(req, node.clone(), faults.clone()));
    let http = http1::Builder::new();
    // 0x16 is a TLS handshake record: the client speaks HTTPS.
    if first[0] == 0x16 {
        if let Some(acceptor) = tls {
            if let Ok(tls_stream) = acceptor.accept(stream).await {
                let _ = http.serve_connection(TokioIo::new(tls_stream), svc).await;
            }
        }
        return;
    }
    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
}

/// The error that makes hyper drop the connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    node: Arc<NodeSim>,
    faults: Arc<Injector>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    node.count_request();
    let node_faults = node.state().faults.clone();
    if node_faults.unresponsive {
        // An unresponsive BMC: the TCP (and TLS) handshake succeeds, then nothing ever comes back.
        std::future::pending::<()>().await;
    }
    let cfg = faults.config();
    let latency = cfg.latency_ms + node_faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match faults.draw(&cfg) {
        Some(FaultKind::ServerError) => {
            let mut r = redfish::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Base.1.8.ServiceTemporarilyUnavailable",
                "The service is temporarily unavailable. Retry in 1 seconds.",
                &["1".into()],
            );
            r.headers_mut()
                .insert("Retry-After", hyper::header::HeaderValue::from_static("1"));
            return Ok(r);
        }
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(Duration::from_millis(cfg.hang_ms)).await;
            return Err(Dropped);
        }
        Some(FaultKind::Reset) => return Err(Dropped),
        None => {}
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(redfish::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Base.1.8.GeneralError",
                "The request body is larger than this service accepts.",
                &[],
            ))
        }
    };
    let node2 = node.clone();
    // Redfish handlers are synchronous and short; run them inline.
    let resp = redfish::handle(
        &node2,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        body,
    );
    Ok(resp)
}
