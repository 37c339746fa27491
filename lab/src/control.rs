//! The lab control endpoint (plain HTTP on loopback): counters that let tests prove "one reboot per
//! node", and the knobs for fault injection, node health and switch faults. Documented in
//! `docs/guides/lab.md`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::faults::FaultConfig;
use crate::node::{NodeFaults, NodeSim};
use crate::switch::SwitchFaults;
use crate::Fleet;

type Resp = Response<Full<Bytes>>;

pub async fn serve(listener: TcpListener, fleet: Arc<Fleet>, shutdown: watch::Receiver<bool>) {
    crate::server::accept_loop(listener, shutdown, |stream| {
        let fleet = fleet.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let fleet = fleet.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(req, &fleet).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    })
    .await;
}

fn reply(status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn problem(status: StatusCode, msg: impl Into<String>) -> Resp {
    reply(status, &json!({"error": msg.into()}))
}

async fn handle(req: Request<Incoming>, fleet: &Fleet) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return problem(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let path = parts.uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let parse = |b: &Bytes| serde_json::from_slice::<Value>(b);
    match (&parts.method, segs.as_slice()) {
        (&Method::GET, ["stats"]) => reply(StatusCode::OK, &stats(fleet)),
        (&Method::GET, ["manifest"]) => reply(
            StatusCode::OK,
            &serde_json::to_value(fleet.manifest()).unwrap_or(Value::Null),
        ),
        (&Method::GET, ["faults"]) => reply(
            StatusCode::OK,
            &serde_json::to_value(fleet.faults.config()).unwrap_or(Value::Null),
        ),
        (&Method::PUT, ["faults"]) => match serde_json::from_slice::<FaultConfig>(&body) {
            Ok(cfg) => match cfg.validate() {
                Ok(()) => {
                    fleet.faults.set(cfg.clone());
                    reply(
                        StatusCode::OK,
                        &serde_json::to_value(cfg).unwrap_or(Value::Null),
                    )
                }
                Err(e) => problem(StatusCode::BAD_REQUEST, e),
            },
            Err(e) => problem(
                StatusCode::BAD_REQUEST,
                format!("invalid fault settings: {e}"),
            ),
        },
        (_, ["nodes", name, rest @ ..]) => {
            let Some(node) = fleet.node(name) else {
                return problem(StatusCode::NOT_FOUND, format!("no node named {name}"));
            };
            match (&parts.method, rest) {
                (&Method::GET, []) => reply(StatusCode::OK, &node_detail(node)),
                (&Method::PUT, ["faults"]) => match serde_json::from_slice::<NodeFaults>(&body) {
                    Ok(f) => {
                        node.state().faults = f.clone();
                        reply(
                            StatusCode::OK,
                            &serde_json::to_value(f).unwrap_or(Value::Null),
                        )
                    }
                    Err(e) => problem(StatusCode::BAD_REQUEST, format!("invalid node faults: {e}")),
                },
                (&Method::PUT, ["health"]) => {
                    let health = parse(&body)
                        .ok()
                        .and_then(|v| v.get("health").and_then(Value::as_str).map(String::from));
                    match health.as_deref() {
                        Some(h @ ("OK" | "Warning" | "Critical")) => {
                            node.state().health = h.to_string();
                            reply(StatusCode::OK, &json!({"health": h}))
                        }
                        _ => problem(
                            StatusCode::BAD_REQUEST,
                            "body must be {\"health\": \"OK\"|\"Warning\"|\"Critical\"}",
                        ),
                    }
                }
                (&Method::POST, ["expire-sessions"]) => {
                    let mut st = node.state();
                    let n = st.sessions.len();
                    st.sessions.clear();
                    reply(StatusCode::OK, &json!({"expired": n}))
                }
                _ => problem(
                    StatusCode::NOT_FOUND,
                    format!("no such control resource: {path}"),
                ),
            }
        }
        (_, ["switches", name, rest @ ..]) => {
            let Some(sw) = fleet.switch(name) else {
                return problem(StatusCode::NOT_FOUND, format!("no switch named {name}"));
            };
            match (&parts.method, rest) {
                (&Method::GET, []) => reply(
                    StatusCode::OK,
                    &sw.lock().unwrap_or_else(|p| p.into_inner()).to_json(),
                ),
                (&Method::GET, ["log"]) => reply(
                    StatusCode::OK,
                    &json!(sw.lock().unwrap_or_else(|p| p.into_inner()).log),
                ),
                (&Method::PUT, ["faults"]) => match serde_json::from_slice::<SwitchFaults>(&body) {
                    Ok(f) => {
                        sw.lock().unwrap_or_else(|p| p.into_inner()).faults = f.clone();
                        reply(
                            StatusCode::OK,
                            &serde_json::to_value(f).unwrap_or(Value::Null),
                        )
                    }
                    Err(e) => problem(
                        StatusCode::BAD_REQUEST,
                        format!("invalid switch faults: {e}"),
                    ),
                },
                _ => problem(
                    StatusCode::NOT_FOUND,
                    format!("no such control resource: {path}"),
                ),
            }
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            format!("no such control resource: {path}"),
        ),
    }
}

fn stats(fleet: &Fleet) -> Value {
    let mut nodes = Map::new();
    for n in &fleet.nodes {
        let st = n.state();
        nodes.insert(
            n.name.clone(),
            json!({
                "resets": st.resets,
                "power_state": st.power.as_str(),
                "health": st.health,
                "boot_progress": st.boot_progress,
                "requests": n.requests.load(std::sync::atomic::Ordering::Relaxed),
                "applied": st.applied,
            }),
        );
    }
    let mut switches = Map::new();
    for (name, sw) in &fleet.switches {
        let s = sw.lock().unwrap_or_else(|p| p.into_inner());
        switches.insert(
            name.clone(),
            json!({"commands": s.log.len(), "saved": s.saved_generation == s.generation}),
        );
    }
    json!({"nodes": nodes, "switches": switches, "faults": fleet.faults.counters()})
}

fn node_detail(n: &NodeSim) -> Value {
    let st = n.state();
    let tasks: Vec<Value> = st
        .tasks
        .values()
        .map(|t| json!({"id": t.id, "name": t.name, "state": t.state}))
        .collect();
    json!({
        "name": n.name,
        "resets": st.resets,
        "manager_resets": st.manager_resets,
        "nmis": st.nmis,
        "power_state": st.power.as_str(),
        "health": st.health,
        "boot_progress": st.boot_progress,
        "last_boot_source": st.last_boot_source,
        "boot": {"target": st.boot.target, "enabled": st.boot.enabled, "mode": st.boot.mode, "order": st.boot.order},
        "secure_boot": {"enable": st.secure_boot_enable, "current": st.secure_boot_current},
        "bios": st.bios,
        "bios_pending": st.bios_pending,
        "volumes": st.volumes.iter().map(|v| json!({"id": v.id, "name": v.name, "raid": v.raid, "drives": v.drives, "capacity_bytes": v.capacity_bytes})).collect::<Vec<_>>(),
        "firmware": st.firmware.iter().map(|f| (f.id.clone(), json!(f.version))).collect::<Map<_, _>>(),
        "virtual_media": st.vmedia.iter().map(|m| json!({"id": m.id, "image": m.image, "inserted": m.inserted})).collect::<Vec<_>>(),
        "tasks": tasks,
        "faults": st.faults,
        "requests": n.requests.load(std::sync::atomic::Ordering::Relaxed),
        "applied": st.applied,
        "os": st.os,
        "installing": st.install.as_ref().map(|i| i.image.clone()),
        "phone_home_sent": st.phone_home_sent,
        "phone_home_error": st.phone_home_error,
    })
}
