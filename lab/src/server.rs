//! The network side of a simulated BMC: one loopback listener per node, serving HTTPS and plain HTTP
//! on the same port (the first byte tells a TLS ClientHello from an HTTP request), with latency and
//! fault injection applied before each request reaches the Redfish service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
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

/// The TLS sides a BMC can show: its own certificate, or the replacement a node with the
/// `other_certificate` fault serves.
#[derive(Clone)]
pub struct Acceptors {
    pub normal: TlsAcceptor,
    pub replaced: TlsAcceptor,
}

/// What a simulated BMC sends: a whole answer, or one of the hostile ones fault injection asks for.
pub enum Answer {
    Whole(Full<Bytes>),
    /// `head`, then `left` bytes of `chunk` repeated: a body too large to be worth reading, never
    /// held in memory whole.
    Flood {
        head: Option<Bytes>,
        chunk: Bytes,
        left: usize,
    },
    /// `data`, one byte each `every`.
    Trickle {
        data: Bytes,
        pos: usize,
        every: Duration,
        sleep: Pin<Box<tokio::time::Sleep>>,
    },
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Answer::Whole(full) => Pin::new(full).poll_frame(cx),
            Answer::Flood { head, chunk, left } => {
                if let Some(h) = head.take() {
                    return Poll::Ready(Some(Ok(Frame::data(h))));
                }
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let n = (*left).min(chunk.len());
                *left -= n;
                Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n)))))
            }
            Answer::Trickle {
                data,
                pos,
                every,
                sleep,
            } => {
                if *pos >= data.len() {
                    return Poll::Ready(None);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let byte = data.slice(*pos..*pos + 1);
                *pos += 1;
                let next = tokio::time::Instant::now() + *every;
                sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(Frame::data(byte))))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Whole(full) => full.size_hint(),
            Answer::Flood { head, left, .. } => {
                SizeHint::with_exact((head.as_ref().map_or(0, Bytes::len) + left) as u64)
            }
            Answer::Trickle { data, pos, .. } => SizeHint::with_exact((data.len() - pos) as u64),
        }
    }
}

/// A `200 OK` JSON answer with `body`.
fn hostile(body: Answer) -> Response<Answer> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Serves one node's BMC until `shutdown` fires.
pub async fn serve_bmc(
    listener: TcpListener,
    node: Arc<NodeSim>,
    faults: Arc<Injector>,
    tls: Option<Acceptors>,
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
    tls: Option<Acceptors>,
) {
    if node.state().faults.absent {
        return;
    }
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) => {}
        _ => return,
    }
    let replaced = node.state().faults.other_certificate;
    let svc = service_fn(move |req| handle(req, node.clone(), faults.clone()));
    let http = http1::Builder::new();
    // 0x16 is a TLS handshake record: the client speaks HTTPS.
    if first[0] == 0x16 {
        if let Some(acceptors) = tls {
            let acceptor = if replaced {
                acceptors.replaced
            } else {
                acceptors.normal
            };
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
) -> Result<Response<Answer>, Dropped> {
    let node_faults = node.state().faults.clone();
    // Not there: connections already open when it was taken away are dropped too.
    if node_faults.absent {
        return Err(Dropped);
    }
    if node_faults.garbage {
        node.count_request();
        return Ok(hostile(Answer::Whole(Full::new(Bytes::from_static(
            b"<html><body>500 Internal Server Error\x00\x01{\"Id\": </body>",
        )))));
    }
    if node_faults.huge_body_mib > 0 {
        node.count_request();
        return Ok(hostile(Answer::Flood {
            head: Some(Bytes::from_static(b"{\"Id\": \"flood\", \"Pad\": \"")),
            chunk: Bytes::from(vec![b'A'; 1 << 20]),
            left: (node_faults.huge_body_mib as usize) << 20,
        }));
    }
    let resp = answer(req, node, faults).await?;
    if !node_faults.trickle {
        return Ok(resp.map(Answer::Whole));
    }
    let (parts, body) = resp.into_parts();
    let data = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Ok(Response::from_parts(
        parts,
        Answer::Trickle {
            data,
            pos: 0,
            every: Duration::from_secs(1),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        },
    ))
}

async fn answer(
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
    crate::node::run_effects(node2);
    Ok(resp)
}
