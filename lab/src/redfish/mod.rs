//! The Redfish service of one simulated BMC: request routing, authentication, ETags and the
//! Redfish error format. Resources live in the submodules, one per area of the Redfish tree.
//!
//! Handlers return `Result<_, Resp>` where the error *is* the HTTP response to send; boxing it would
//! only add noise, so clippy's `result_large_err` is allowed here.
#![allow(clippy::result_large_err)]

mod chassis;
mod expand;
mod manager;
mod service;
mod storage;
mod system;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, LOCATION,
};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::node::NodeSim;

pub type Resp = Response<Full<Bytes>>;

/// A parsed request, as the resource handlers see it.
pub struct Req<'a> {
    pub method: &'a Method,
    /// Path segments after `/redfish/v1`, percent-decoded.
    pub segs: Vec<String>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

impl Req<'_> {
    /// The body as JSON; an empty body reads as `{}` (some clients send none to actions).
    pub fn json(&self) -> Result<Value, Resp> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "Base.1.8.MalformedJSON",
                &format!(
                    "The request body submitted was malformed JSON and could not be parsed: {e}"
                ),
                &[],
            )
        })
    }

    /// The request's path, as the client sent it (percent-decoded).
    pub fn uri(&self) -> String {
        format!("/redfish/v1/{}", self.segs.join("/"))
    }

    fn seg(&self, i: usize) -> &str {
        self.segs.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Serves one Redfish request against one node. `path` is the raw request path, `query` its query
/// string (only `$expand` is served). What the Redfish specification (DSP0266) asks of every
/// response is done here: `OData-Version` other than 4.0 is refused (412), an unsupported `$`
/// query parameter too (501), HEAD answers as GET without the body, and a successful GET or HEAD
/// says which methods the resource allows (`Allow`) and where its schema is (`Link`,
/// `rel=describedby`).
pub fn handle(
    node: &NodeSim,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Resp {
    if let Some(v) = headers.get("OData-Version") {
        if v.as_bytes() != b"4.0" {
            return error(
                StatusCode::PRECONDITION_FAILED,
                "Base.1.8.HeaderInvalid",
                "The service supports OData-Version 4.0 only.",
                &[],
            );
        }
    }
    if let Some(param) = query.into_iter().flat_map(|q| q.split('&')).find(|kv| {
        let name = kv.split('=').next().unwrap_or("");
        (name.starts_with('$') || name.starts_with("%24"))
            && name != "$expand"
            && name != "%24expand"
    }) {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "Base.1.8.QueryNotSupported",
            &format!(
                "The query parameter {param} is not supported by this service; only $expand is."
            ),
            &[],
        );
    }
    let head = method == Method::HEAD;
    let method = if head { &Method::GET } else { method };
    let mut resp = handle_query(node, method, path, query, headers, body);
    if method == Method::GET && resp.status() == StatusCode::OK {
        describe(&mut resp, path);
    }
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key("Allow") {
        let allow = allowed_methods(&path_segments(path));
        resp.headers_mut()
            .insert("Allow", HeaderValue::from_static(allow));
    }
    if head {
        *resp.body_mut() = Full::new(Bytes::new());
    }
    resp
}

/// The methods a resource allows, by its path (after `/redfish/v1`).
fn allowed_methods(segs: &[&str]) -> &'static str {
    match segs {
        ["SessionService", "Sessions"] | ["SessionService", "Sessions", "Members"] => {
            "GET, HEAD, POST"
        }
        ["SessionService", "Sessions", _] => "GET, HEAD, DELETE",
        ["Systems", _] | ["Systems", _, "SecureBoot"] | ["Systems", _, "Bios", "Settings"] => {
            "GET, HEAD, PATCH"
        }
        ["Systems", _, "Storage", _, "Volumes"] => "GET, HEAD, POST",
        ["Systems", _, "Storage", _, "Volumes", _] => "GET, HEAD, DELETE",
        ["Managers", _, "VirtualMedia", _] => "GET, HEAD, PATCH",
        _ => "GET, HEAD",
    }
}

/// `Allow` and `Link: <schema>; rel=describedby` on a successful GET: the schema is the DMTF
/// JSON schema of the resource's `@odata.type` (the lab serves no schema store of its own).
fn path_segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/')
        .strip_prefix("/redfish/v1")
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

fn describe(resp: &mut Resp, path: &str) {
    let segs = path_segments(path);
    let link = expand::ready_json_ref(resp).and_then(|doc| {
        let t = doc.get("@odata.type")?.as_str()?.trim_start_matches('#');
        let (namespace, _) = t.rsplit_once('.')?;
        Some(format!(
            "<https://redfish.dmtf.org/schemas/v1/{namespace}.json>; rel=describedby"
        ))
    });
    let h = resp.headers_mut();
    h.insert("Allow", HeaderValue::from_static(allowed_methods(&segs)));
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert("Link", v);
    }
}

fn handle_query(
    node: &NodeSim,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Resp {
    let Some(asked) = expand::levels(query).filter(|_| method == Method::GET) else {
        return route(node, method, path, headers, body);
    };
    let Ok(levels) = asked else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "Base.1.8.QueryNotSupported",
            "Only $expand=. with $levels is supported by this service.",
            &[],
        );
    };
    let resp = route(node, method, path, headers, body);
    if resp.status() != StatusCode::OK {
        return resp;
    }
    match expand::ready_json(resp) {
        Some(mut doc) => {
            expand::expand(node, headers, &mut doc, levels);
            ok(doc)
        }
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Base.1.8.InternalError",
            "The resource could not be expanded.",
            &[],
        ),
    }
}

/// Serves one request without query options.
fn route(node: &NodeSim, method: &Method, path: &str, headers: &HeaderMap, body: Bytes) -> Resp {
    let path = path.trim_end_matches('/');
    if path == "/redfish" {
        return ok(json!({"v1": "/redfish/v1/"}));
    }
    let Some(rest) = path.strip_prefix("/redfish/v1") else {
        return not_found(path);
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let req = Req {
        method,
        segs,
        headers,
        body,
    };
    // Open without credentials (DSP0266): the service root, the OData service and metadata
    // documents, and logging in (a POST to the sessions collection or its Members property).
    let open = req.segs.is_empty()
        || req.segs == ["odata"]
        || req.segs == ["$metadata"]
        || (method == Method::POST
            && (req.segs == ["SessionService", "Sessions"]
                || req.segs == ["SessionService", "Sessions", "Members"]));
    if !open && !authorized(node, headers) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "Base.1.8.NoValidSession",
            "There is no valid session established with the implementation.",
            &[],
        );
        r.headers_mut().insert(
            "WWW-Authenticate",
            HeaderValue::from_static("Basic realm=\"RedfishService\""),
        );
        return r;
    }
    match req.seg(0) {
        "" if method == Method::GET => ok(service::root(node)),
        "" => not_allowed("GET, HEAD"),
        "odata" => ok(service::odata()),
        "$metadata" if method == Method::GET => service::metadata(),
        "$metadata" => not_allowed("GET, HEAD"),
        "AccountService" => service::accounts(node, &req),
        "Systems" => system::route(node, &req),
        "Managers" => manager::route(node, &req),
        "Chassis" => chassis::route(node, &req),
        "SessionService" => service::sessions(node, &req),
        "UpdateService" => service::update(node, &req),
        "TaskService" => service::tasks(node, &req),
        "Registries" => service::registries(node, &req),
        _ => not_found(path),
    }
}

fn authorized(node: &NodeSim, headers: &HeaderMap) -> bool {
    if let Some(token) = headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
        return node.state().sessions.contains_key(token);
    }
    let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = auth.strip_prefix("Basic ") else {
        return false;
    };
    use base64::Engine as _;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", node.username, node.password);
    constant_time_eq(&raw, expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A strong ETag over a rendered resource: any change to what a GET shows changes the tag.
pub fn etag_of(v: &Value) -> String {
    etag_of_bytes(v.to_string().as_bytes())
}

/// The ETag of a serialized representation (what [`etag_of`] gives for its document).
fn etag_of_bytes(s: &[u8]) -> String {
    // FNV-1a: cheap, stable, and collisions do not matter for a simulator.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// Checks `If-Match` against the current representation; `Some` is the 412 to send.
pub fn precondition(req: &Req<'_>, current: &Value) -> Option<Resp> {
    let want = req.headers.get(IF_MATCH)?.to_str().ok()?.trim().to_string();
    if want == "*" {
        return None;
    }
    let tag = etag_of(current);
    if want.split(',').any(|t| t.trim() == tag) {
        return None;
    }
    Some(error(
        StatusCode::PRECONDITION_FAILED,
        "Base.1.8.PreconditionFailed",
        "The ETag supplied did not match the ETag required to change this resource.",
        &[],
    ))
}

pub fn respond(status: StatusCode, body: Option<&Value>) -> Resp {
    // Serialized once: the ETag is computed from the same bytes that are sent.
    let bytes = match body {
        Some(v) => Bytes::from(v.to_string()),
        None => Bytes::new(),
    };
    let tag = (body.is_some() && status == StatusCode::OK).then(|| etag_of_bytes(&bytes));
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    h.insert("Cache-Control", HeaderValue::from_static("no-cache"));
    if body.is_some() {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if let Some(tag) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(ETAG, tag);
    }
    r
}

pub fn ok(v: Value) -> Resp {
    respond(StatusCode::OK, Some(&v))
}

pub fn no_content() -> Resp {
    respond(StatusCode::NO_CONTENT, None)
}

/// 202 Accepted with a task monitor to poll.
pub fn accepted(task: u32, body: Value) -> Resp {
    let mut r = respond(StatusCode::ACCEPTED, Some(&body));
    let loc = format!("/redfish/v1/TaskService/TaskMonitors/{task}");
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_str(&loc).expect("ascii path"));
    r.headers_mut()
        .insert("Retry-After", HeaderValue::from_static("1"));
    r
}

pub fn with_location(mut r: Resp, loc: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(loc) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

pub fn error(status: StatusCode, id: &str, message: &str, args: &[String]) -> Resp {
    errors(status, &[(id, message.to_string(), args.to_vec())])
}

/// A Redfish error carrying several `@Message.ExtendedInfo` entries.
pub fn errors(status: StatusCode, infos: &[(&str, String, Vec<String>)]) -> Resp {
    let ext: Vec<Value> = infos
        .iter()
        .map(|(id, msg, args)| {
            json!({
                "@odata.type": "#Message.v1_1_1.Message",
                "MessageId": id,
                "Message": msg,
                "MessageArgs": args,
                "MessageSeverity": "Warning",
                "Resolution": "Correct the request and resubmit it.",
            })
        })
        .collect();
    let code = infos
        .first()
        .map(|i| i.0)
        .unwrap_or("Base.1.8.GeneralError");
    let body = json!({"error": {
        "code": code,
        "message": "A general error has occurred. See ExtendedInfo for more information.",
        "@Message.ExtendedInfo": ext,
    }});
    respond(status, Some(&body))
}

pub fn not_found(what: &str) -> Resp {
    error(
        StatusCode::NOT_FOUND,
        "Base.1.8.ResourceMissingAtURI",
        &format!("The resource at the URI {what} was not found."),
        &[what.to_string()],
    )
}

/// 405 with the methods the resource allows.
pub fn not_allowed(allow: &'static str) -> Resp {
    let mut r = method_not_allowed();
    r.headers_mut()
        .insert("Allow", HeaderValue::from_static(allow));
    r
}

pub fn method_not_allowed() -> Resp {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Base.1.8.OperationNotAllowed",
        "The HTTP method is not allowed on this resource.",
        &[],
    )
}

pub fn bad_request(id: &str, message: &str, args: &[String]) -> Resp {
    error(StatusCode::BAD_REQUEST, id, message, args)
}

/// `{"@odata.id": …}` for each member path.
pub fn collection(odata_id: &str, kind: &str, members: impl IntoIterator<Item = String>) -> Value {
    let members: Vec<Value> = members
        .into_iter()
        .map(|m| json!({"@odata.id": m}))
        .collect();
    json!({
        "@odata.id": odata_id,
        "@odata.type": format!("#{kind}Collection.{kind}Collection"),
        "Name": format!("{kind} Collection"),
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

pub fn odata_ref(path: &str) -> Value {
    json!({"@odata.id": path})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_encoded_and_plain_segments() {
        assert_eq!(
            percent_decode("Disk.Bay.0%3AEnclosure"),
            "Disk.Bay.0:Enclosure"
        );
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("trailing%"), "trailing%");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }

    #[test]
    fn etag_changes_with_content() {
        assert_ne!(etag_of(&json!({"a": 1})), etag_of(&json!({"a": 2})));
        assert_eq!(etag_of(&json!({"a": 1})), etag_of(&json!({"a": 1})));
    }
}
