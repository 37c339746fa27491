//! Untrusted text as it may be shown: control characters escaped for a terminal, long lists and
//! cells cut short, and credentials in URLs masked. Every message, report and listing passes
//! device and user text through here.

use std::fmt::Write as _;

/// The widest a table cell is shown (but the last column's) unless the table is wide.
pub const MAX_CELL: usize = 60;

/// Text from a BMC, a switch or a file, safe for a terminal: control characters (escape sequences,
/// carriage returns, NULs) are shown escaped (`\u{1b}`), never sent raw; with `keep_newlines`,
/// line breaks stay.
pub fn printable(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A list of names as a message shows it: the first eight, then how many in all; each escaped.
pub fn few(items: &[String]) -> String {
    let mut shown: Vec<String> = items
        .iter()
        .take(8)
        .map(|i| printable(&shortened(i, MAX_CELL), false).into_owned())
        .collect();
    if items.len() > 8 {
        shown.push(format!("… {} in all", items.len()));
    }
    shown.join(", ")
}

/// At most `max` characters, the last of them `…` when some were cut.
pub fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A URL as it may be shown: any `user:password@` before the host is replaced by `…@`.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_string(),
    };
    printable(&shown, false).into_owned()
}

/// `url` as it may be shown (progress, logs, errors, listings): a password in it, and the values
/// of query parameters that carry credentials (signatures, tokens, keys), are replaced by `***`.
/// The URL itself, credentials and all, still goes to the BMC that fetches the image.
pub fn shown(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        // Not a URL we can take apart: show only what precedes any userinfo or query.
        let head = url.split(['?', '#']).next().unwrap_or_default();
        return match head.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => head.to_string(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    } else if !u.username().is_empty() {
        // A user name alone is often a token (`https://TOKEN@store/…`).
        let _ = u.set_username("***");
    }
    if u.query().is_some() {
        let secret = |k: &str| {
            let k = k.to_ascii_lowercase();
            [
                "sig",
                "token",
                "key",
                "secret",
                "pass",
                "credential",
                "auth",
            ]
            .iter()
            .any(|s| k.contains(s))
        };
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// `text` (a BMC's error, say) with `url`, and the secrets in it, replaced by [`shown`]'s form.
pub fn masked(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &shown(url));
    if let Ok(u) = url::Url::parse(url) {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(p) = u.password() {
            secrets.push(p.to_string());
        } else if !u.username().is_empty() {
            secrets.push(u.username().to_string());
        }
        for (k, v) in u.query_pairs() {
            if shown(&format!("http://h/?{k}=x")).ends_with("=***") && !v.is_empty() {
                secrets.push(v.into_owned());
            }
        }
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}
