//! The loader's strictness: what a block may hold, suggestions for misspellings, duplicate
//! declarations reported at both places, and reference cycles named as cycles.

use std::collections::{BTreeMap, BTreeSet};

/// What each top-level block may hold: its attributes and nested blocks (`None`: anything, as for
/// blocks that are noted and ignored).
pub fn top_level_blocks() -> &'static [&'static str] {
    &[
        "terraform",
        "provider",
        "variable",
        "locals",
        "resource",
        "data",
        "module",
        "output",
        "moved",
        "import",
        "check",
        "removed",
    ]
}

/// The attributes a `variable` block takes, and its nested blocks.
pub const VARIABLE_ATTRS: &[&str] = &[
    "type",
    "default",
    "description",
    "sensitive",
    "nullable",
    "ephemeral",
];
pub const VARIABLE_BLOCKS: &[&str] = &["validation"];

/// A block's name label: a letter or underscore, then letters, digits, underscores and dashes, as
/// Terraform's identifiers; at most 64 characters.
pub fn name_label(name: &str) -> Result<(), crate::rules::Invalid> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(crate::rules::Invalid(format!(
            "the name label {} is not an identifier (a letter or _, then letters, digits, _ and -; at most 64)",
            crate::text::printable(&format!("{name:?}"), false)
        )));
    }
    Ok(())
}

/// Levenshtein distance, for suggestions (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `; did you mean "max_parallel"?` when one candidate is close to `word`, else nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    if word.chars().count() > 64 {
        return String::new();
    }
    let best = candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min();
    match best {
        Some((_, c)) => format!("; did you mean {c:?}?"),
        None => String::new(),
    }
}

/// The first cycle in a graph of references (`from -> [to]`), as `[a, b, …, a]`.
pub fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        New,
        OnPath,
        Done,
    }
    let mut seen: BTreeMap<&str, Seen> = graph.keys().map(|k| (k.as_str(), Seen::New)).collect();
    for start in graph.keys() {
        if seen[start.as_str()] != Seen::New {
            continue;
        }
        // Iterative depth-first search: the path, and for each node on it the edges left to try.
        let mut path: Vec<&str> = vec![start];
        let mut edges: Vec<Vec<&str>> = vec![graph[start].iter().map(String::as_str).collect()];
        seen.insert(start, Seen::OnPath);
        while let Some(top) = edges.last_mut() {
            let Some(next) = top.pop() else {
                edges.pop();
                if let Some(done) = path.pop() {
                    seen.insert(done, Seen::Done);
                }
                continue;
            };
            match seen.get(next).copied() {
                None | Some(Seen::Done) => {}
                Some(Seen::OnPath) => {
                    let from = path.iter().position(|p| *p == next).unwrap_or(0);
                    let mut c: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                    c.push(next.to_string());
                    return Some(c);
                }
                Some(Seen::New) => {
                    seen.insert(next, Seen::OnPath);
                    path.push(next);
                    edges.push(graph[next].iter().map(String::as_str).collect());
                }
            }
        }
    }
    None
}

/// The names an expression refers to under `root` (`local` → `local.a`, `local.b`; a resource
/// type → its block names), read from the expression's text.
pub fn references(expr: &str, root: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let mut from = 0;
    while let Some(i) = expr[from..].find(root).map(|i| i + from) {
        from = i + root.len();
        let before_ok = i == 0 || !(ident(bytes[i - 1]) || bytes[i - 1] == b'.');
        if !before_ok || bytes.get(from) != Some(&b'.') {
            continue;
        }
        let start = from + 1;
        let mut end = start;
        while end < bytes.len() && ident(bytes[end]) {
            end += 1;
        }
        if end > start {
            out.insert(expr[start..end].to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_get_a_suggestion_and_strangers_none() {
        let known = ["max_parallel", "insecure", "ca_cert"];
        assert_eq!(
            did_you_mean("max_paralel", known),
            "; did you mean \"max_parallel\"?"
        );
        assert_eq!(
            did_you_mean("insecrue", known),
            "; did you mean \"insecure\"?"
        );
        assert_eq!(did_you_mean("colour", known), "");
    }

    #[test]
    fn cycles_are_found_with_their_members_in_order() {
        let g = |edges: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
            edges
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        assert_eq!(
            cycle(&g(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            cycle(&g(&[("a", &["a"])])),
            Some(vec!["a".into(), "a".into()])
        );
        assert_eq!(
            cycle(&g(&[("a", &["b"]), ("b", &[]), ("c", &["a", "b"])])),
            None
        );
    }

    #[test]
    fn references_are_read_from_expression_text() {
        let r = references(
            "merge(local.a, { x = local.b_c }, var.local.z, mylocal.q)",
            "local",
        );
        assert_eq!(r, ["a", "b_c"].iter().map(|s| s.to_string()).collect());
    }
}
