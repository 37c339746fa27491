//! `$expand=.($levels=N)` (DSP0266 §7.3, "expand subordinate resources, not `Links`"): every link
//! to a subordinate resource is replaced by that resource's document, N levels down, in one answer.
//! iDRAC, iLO and XCC advertise it in `ProtocolFeaturesSupported.ExpandQuery`; so does the lab, so
//! a fleet-wide read costs a handful of requests per node instead of one per drive and volume.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use serde_json::Value;

use super::Resp;
use crate::node::NodeSim;

/// The deepest expansion the lab serves (advertised as `MaxLevels`).
pub const MAX_LEVELS: u64 = 3;

/// The levels a query string asks for: `$expand=.` is one level, `$expand=.($levels=N)` is N
/// (capped at [`MAX_LEVELS`]). `None` without `$expand`, and for the forms the lab does not serve
/// (`*`, `~`), which are refused with 501 as real services refuse what they do not support.
pub fn levels(query: Option<&str>) -> Option<Result<u32, ()>> {
    let q = query?;
    let value = q.split('&').find_map(|kv| {
        kv.strip_prefix("$expand=")
            .or_else(|| kv.strip_prefix("%24expand="))
    })?;
    let value = value
        .replace("%28", "(")
        .replace("%29", ")")
        .replace("%24", "$")
        .replace("%3D", "=");
    let Some(rest) = value.strip_prefix('.') else {
        return Some(Err(()));
    };
    if rest.is_empty() {
        return Some(Ok(1));
    }
    let n = rest
        .strip_prefix("($levels=")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|n| n.parse::<u64>().ok());
    Some(match n {
        Some(n) if n >= 1 => Ok(n.min(MAX_LEVELS) as u32),
        _ => Err(()),
    })
}

/// Replaces the subordinate links of `doc` by the documents they point at, `levels` deep.
pub fn expand(node: &NodeSim, headers: &HeaderMap, doc: &mut Value, levels: u32) {
    if levels == 0 {
        return;
    }
    if let Value::Object(map) = doc {
        for (key, child) in map.iter_mut() {
            // `Links` are references, not subordinates; annotations and actions are not resources.
            if key == "Links" || key == "Actions" || key.contains('@') {
                continue;
            }
            expand_value(node, headers, child, levels);
        }
    }
}

fn expand_value(node: &NodeSim, headers: &HeaderMap, v: &mut Value, levels: u32) {
    match v {
        Value::Array(items) => {
            for item in items {
                expand_value(node, headers, item, levels);
            }
        }
        Value::Object(map) if map.len() == 1 => {
            if let Some(Value::String(uri)) = map.get("@odata.id") {
                if let Some(mut fetched) = get(node, headers, &uri.clone()) {
                    expand(node, headers, &mut fetched, levels - 1);
                    *v = fetched;
                }
            }
        }
        Value::Object(_) => expand(node, headers, v, levels),
        _ => {}
    }
}

/// One GET through the node's own routing, as JSON (`None` when it fails: the link stays a link).
fn get(node: &NodeSim, headers: &HeaderMap, uri: &str) -> Option<Value> {
    let resp = super::route(node, &Method::GET, uri, headers, Bytes::new());
    if resp.status() != StatusCode::OK {
        return None;
    }
    ready_json(resp)
}

/// The JSON body of a response the lab built.
pub fn ready_json(resp: Resp) -> Option<Value> {
    serde_json::from_slice(&ready_body(resp)?).ok()
}

/// The JSON body of a response the lab built in memory, read without consuming the response.
pub fn ready_json_ref(resp: &Resp) -> Option<Value> {
    let mut collect = pin!(resp.body().clone().collect());
    match collect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(c)) => serde_json::from_slice(&c.to_bytes()).ok(),
        _ => None,
    }
}

/// The body of a response the lab built in memory (a `Full`, ready at once).
fn ready_body(resp: Resp) -> Option<Bytes> {
    let mut collect = pin!(resp.into_body().collect());
    match collect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(c)) => Some(c.to_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_the_query() {
        assert_eq!(levels(None), None);
        assert_eq!(levels(Some("$top=2")), None);
        assert_eq!(levels(Some("$expand=.")), Some(Ok(1)));
        assert_eq!(levels(Some("$expand=.($levels=2)")), Some(Ok(2)));
        assert_eq!(levels(Some("%24expand=.%28%24levels%3D9%29")), Some(Ok(3)));
        assert_eq!(levels(Some("$expand=*")), Some(Err(())));
        assert_eq!(levels(Some("$expand=.($levels=0)")), Some(Err(())));
    }
}
