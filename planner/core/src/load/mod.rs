//! Loading a Terraform configuration directory: `*.tf`, `terraform.tfvars`, `*.auto.tfvars`, `-var`,
//! `-var-file` and `TF_VAR_*`, evaluated into plain resource instances (JSON objects) that
//! `model` turns into the desired state.
//!
//! What is evaluated: `variable` blocks (default, type, sensitive), `locals`, `provider "baremetal"`,
//! every `resource "baremetal_*"` with `count` and `for_each` over known collections, `dynamic` blocks,
//! references between those resources, `file()` and the common built-in functions. Other providers'
//! resources, data sources, modules and outputs are noted and ignored. Every error carries
//! `file:line:col` and the line with a caret.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use hcl::edit::structure::{Block, Body, Structure};
use hcl::edit::Span as _;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use serde_json::{Map, Value};

use crate::schema::{self, AttrSpec, BlockSpec, Kind};

mod arith;
pub(crate) mod strict;
mod text;
pub use text::{MAX_DEPTH, MAX_FILE};

/// The most instances one resource block may make (`count`, `for_each`), and the most numbers
/// `range()` may return.
pub const MAX_INSTANCES: u64 = 100_000;
/// The widest field `format()` pads to.
pub const MAX_FORMAT_WIDTH: usize = 10_000;
/// The largest file `file()` reads, in bytes.
pub const MAX_READ: u64 = 64 << 20;

/// Where something is in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub text: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration error at a place, shown with the line and a caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            None => write!(f, "{}", self.message),
            Some(l) => {
                write!(f, "{l}: {}", self.message)?;
                if !l.text.is_empty() {
                    // A long line is shown as a window of 100 characters around the column.
                    let col = l.col.saturating_sub(1);
                    let skip = col.saturating_sub(60);
                    let window: String = l.text.chars().skip(skip).take(100).collect();
                    let lead = if skip > 0 { "…" } else { "" };
                    let tail = if l.text.chars().count() > skip + 100 {
                        "…"
                    } else {
                        ""
                    };
                    write!(
                        f,
                        "\n  {lead}{window}{tail}\n  {}^",
                        " ".repeat(col - skip + lead.chars().count())
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// All the errors of one load, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// One evaluated resource instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `baremetal_node`.
    pub kind: String,
    /// The block's name label.
    pub name: String,
    /// `for_each` key or `count` index.
    pub key: Option<Value>,
    /// `baremetal_node.r["r1u01"]`.
    pub address: String,
    /// Attributes and nested blocks (each a list of objects).
    pub attrs: Map<String, Value>,
    pub location: Location,
    /// Where each attribute was written, by dotted path (`bios`, `port.0.networks`).
    pub attr_locations: BTreeMap<String, Location>,
}

impl Instance {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }

    pub fn location_of(&self, path: &str) -> Location {
        self.attr_locations
            .get(path)
            .cloned()
            .unwrap_or_else(|| self.location.clone())
    }

    pub fn error(&self, path: &str, message: impl Into<String>) -> LoadError {
        LoadError {
            location: Some(self.location_of(path)),
            message: format!("{}: {}", self.address, message.into()),
        }
    }
}

/// The evaluated configuration.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub dir: PathBuf,
    pub provider: Map<String, Value>,
    pub instances: Vec<Instance>,
    /// What was ignored, for the operator.
    pub notes: Vec<String>,
    /// Names of sensitive variables.
    pub sensitive_vars: BTreeSet<String>,
}

/// Variable values from the command line, in the order given.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-var name=value`.
    pub vars: Vec<(String, String)>,
    /// `-var-file FILE`.
    pub var_files: Vec<PathBuf>,
    /// `TF_VAR_*` values; `None` reads the process environment.
    pub env: Option<Vec<(String, String)>>,
}

struct File {
    path: PathBuf,
    text: String,
    lines: text::Lines,
    body: Body,
}

fn location(file: &File, offset: usize) -> Location {
    file.lines.locate(&file.path, &file.text, offset)
}

/// Reads a configuration file, refusing (at their place) sizes, encodings and nestings the parser
/// should never see.
fn read_text(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| LoadError {
            location: None,
            message: format!("{}: {e}", path.display()),
        })?;
    text::checked(path, bytes)
}

fn parse_file(path: &Path, text: String) -> Result<File, LoadError> {
    text::check(path, &text)?;
    match hcl::edit::parser::parse_body(&text) {
        Ok(body) => Ok(File {
            path: path.to_path_buf(),
            lines: text::Lines::new(&text),
            text,
            body,
        }),
        Err(e) => {
            let loc = e.location();
            Err(LoadError {
                location: Some(Location {
                    file: path.to_path_buf(),
                    line: loc.line(),
                    col: loc.column(),
                    text: e.line().to_string(),
                }),
                message: format!("malformed HCL: {}", e.message()),
            })
        }
    }
}

fn hcl_to_json(v: &hcl::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn json_to_hcl(v: &Value) -> hcl::Value {
    hcl::to_value(v).unwrap_or(hcl::Value::Null)
}

fn obj(m: Map<String, Value>) -> hcl::Value {
    json_to_hcl(&Value::Object(m))
}

/// The built-in functions: the common ones of Terraform, by the same names.
fn functions(ctx: &mut Context) {
    use ParamType as P;
    arith::declare(ctx);
    fn s(args: &FuncArgs, i: usize) -> String {
        args[i].as_str().map(str::to_string).unwrap_or_default()
    }
    ctx.declare_func(
        "file",
        FuncDef::new(
            |a| {
                use std::io::Read;
                let path = s(&a, 0);
                let mut text = String::new();
                std::fs::File::open(&path)
                    .and_then(|f| f.take(MAX_READ + 1).read_to_string(&mut text))
                    .map_err(|e| format!("cannot read {path:?}: {e}"))?;
                if text.len() as u64 > MAX_READ {
                    return Err(format!(
                        "{path:?} is larger than the {MAX_READ} bytes file() reads"
                    ));
                }
                Ok(hcl::Value::from(text))
            },
            [P::String],
        ),
    );
    ctx.declare_func(
        "jsondecode",
        FuncDef::new(
            |a| {
                serde_json::from_str::<Value>(&s(&a, 0))
                    .map(|v| json_to_hcl(&v))
                    .map_err(|e| format!("not JSON: {e}"))
            },
            [P::String],
        ),
    );
    ctx.declare_func(
        "jsonencode",
        FuncDef::new(
            |a| Ok(hcl::Value::from(hcl_to_json(&a[0]).to_string())),
            [P::Any],
        ),
    );
    ctx.declare_func(
        "lower",
        FuncDef::new(|a| Ok(s(&a, 0).to_lowercase().into()), [P::String]),
    );
    ctx.declare_func(
        "upper",
        FuncDef::new(|a| Ok(s(&a, 0).to_uppercase().into()), [P::String]),
    );
    ctx.declare_func(
        "trimspace",
        FuncDef::new(|a| Ok(s(&a, 0).trim().to_string().into()), [P::String]),
    );
    ctx.declare_func(
        "tostring",
        FuncDef::new(
            |a| {
                Ok(match &a[0] {
                    hcl::Value::String(s) => s.clone().into(),
                    hcl::Value::Null => hcl::Value::Null,
                    other => hcl_to_json(other).to_string().into(),
                })
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "tonumber",
        FuncDef::new(
            |a| match &a[0] {
                hcl::Value::Number(_) => Ok(a[0].clone()),
                hcl::Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(|f| json_to_hcl(&serde_json::json!(f)))
                    .map_err(|_| format!("{s:?} is not a number")),
                other => Err(format!("cannot convert {other} to a number")),
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "length",
        FuncDef::new(
            |a| {
                Ok(match &a[0] {
                    hcl::Value::Array(v) => v.len().into(),
                    hcl::Value::Object(m) => m.len().into(),
                    hcl::Value::String(s) => s.chars().count().into(),
                    other => return Err(format!("length of {other}")),
                })
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "keys",
        FuncDef::new(
            |a| match &a[0] {
                hcl::Value::Object(m) => Ok(hcl::Value::Array(
                    m.keys().map(|k| hcl::Value::from(k.clone())).collect(),
                )),
                other => Err(format!("keys of {other}")),
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "values",
        FuncDef::new(
            |a| match &a[0] {
                hcl::Value::Object(m) => Ok(hcl::Value::Array(m.values().cloned().collect())),
                other => Err(format!("values of {other}")),
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .params([P::Any, P::String])
            .variadic_param(P::Any)
            .build(|a| {
                let key = s(&a, 1);
                match &a[0] {
                    hcl::Value::Object(m) => match m.get(&key) {
                        Some(v) => Ok(v.clone()),
                        None => a
                            .get(2)
                            .cloned()
                            .ok_or_else(|| format!("no key {key:?} and no default")),
                    },
                    other => Err(format!("lookup in {other}")),
                }
            }),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder().variadic_param(P::Any).build(|a| {
            let mut out = hcl::Map::new();
            for v in a.iter() {
                match v {
                    hcl::Value::Object(m) => out.extend(m.clone()),
                    hcl::Value::Null => {}
                    other => return Err(format!("merge of {other}")),
                }
            }
            Ok(hcl::Value::Object(out))
        }),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder().variadic_param(P::Any).build(|a| {
            let mut out = Vec::new();
            for v in a.iter() {
                match v {
                    hcl::Value::Array(xs) => out.extend(xs.clone()),
                    other => return Err(format!("concat of {other}")),
                }
            }
            Ok(hcl::Value::Array(out))
        }),
    );
    ctx.declare_func(
        "contains",
        FuncDef::new(
            |a| match &a[0] {
                hcl::Value::Array(xs) => Ok(xs.contains(&a[1]).into()),
                other => Err(format!("contains in {other}")),
            },
            [P::Any, P::Any],
        ),
    );
    ctx.declare_func(
        "toset",
        FuncDef::new(
            |a| match &a[0] {
                hcl::Value::Array(xs) => {
                    let mut seen = Vec::new();
                    for x in xs {
                        if !seen.contains(x) {
                            seen.push(x.clone());
                        }
                    }
                    Ok(hcl::Value::Array(seen))
                }
                other => Err(format!("toset of {other}")),
            },
            [P::Any],
        ),
    );
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(P::String)
            .variadic_param(P::Any)
            .build(|a| {
                let fmt = s(&a, 0);
                let mut out = String::new();
                let mut args = a.iter().skip(1);
                let mut chars = fmt.chars().peekable();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    // %s, %d, %v and zero-padded widths such as %02d.
                    let mut spec = String::new();
                    while let Some(&n) = chars.peek() {
                        spec.push(n);
                        chars.next();
                        if n.is_ascii_alphabetic() || n == '%' {
                            break;
                        }
                    }
                    if spec == "%" {
                        out.push('%');
                        continue;
                    }
                    let v = args.next().ok_or("format: too few arguments")?;
                    let text = match v {
                        hcl::Value::String(s) => s.clone(),
                        other => hcl_to_json(other).to_string(),
                    };
                    let digits = spec
                        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                        .trim_start_matches('0');
                    let width: usize = match digits.parse() {
                        Ok(w) if w <= MAX_FORMAT_WIDTH => w,
                        Ok(_) | Err(_) if !digits.is_empty() => {
                            return Err(format!(
                                "format: the width {digits} is over {MAX_FORMAT_WIDTH}"
                            ))
                        }
                        _ => 0,
                    };
                    let pad = if spec.starts_with('0') { '0' } else { ' ' };
                    for _ in text.chars().count()..width {
                        out.push(pad);
                    }
                    out.push_str(&text);
                }
                Ok(out.into())
            }),
    );
    ctx.declare_func(
        "join",
        FuncDef::new(
            |a| match &a[1] {
                hcl::Value::Array(xs) => Ok(xs
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(&s(&a, 0))
                    .into()),
                other => Err(format!("join of {other}")),
            },
            [P::String, P::Any],
        ),
    );
    ctx.declare_func(
        "split",
        FuncDef::new(
            |a| {
                Ok(hcl::Value::Array(
                    s(&a, 1)
                        .split(&s(&a, 0))
                        .map(|p| hcl::Value::from(p.to_string()))
                        .collect(),
                ))
            },
            [P::String, P::String],
        ),
    );
    ctx.declare_func(
        "replace",
        FuncDef::new(
            |a| Ok(s(&a, 0).replace(&s(&a, 1), &s(&a, 2)).into()),
            [P::String, P::String, P::String],
        ),
    );
    ctx.declare_func(
        "range",
        FuncDef::builder().variadic_param(P::Number).build(|a| {
            let n: Vec<i64> = a.iter().filter_map(|v| v.as_i64()).collect();
            let (start, end) = match n.as_slice() {
                [e] => (0, *e),
                [s, e] => (*s, *e),
                _ => return Err("range takes one or two numbers".into()),
            };
            let n = (end as i128 - start as i128).max(0);
            if n > MAX_INSTANCES as i128 {
                return Err(format!(
                    "range({start}, {end}) would hold {n} numbers; at most {MAX_INSTANCES}"
                ));
            }
            Ok(hcl::Value::Array(
                (start..end).map(hcl::Value::from).collect(),
            ))
        }),
    );
    ctx.declare_func(
        "coalesce",
        FuncDef::builder().variadic_param(P::Any).build(|a| {
            a.iter()
                .find(|v| !v.is_null() && v.as_str() != Some(""))
                .cloned()
                .ok_or_else(|| "coalesce: every argument is null or empty".into())
        }),
    );
}

fn tfvars_file(
    path: &Path,
    into: &mut BTreeMap<String, (hcl::Value, Option<Location>)>,
) -> Result<(), LoadError> {
    let file = parse_file(path, read_text(path)?)?;
    let mut ctx = Context::new();
    arith::declare(&mut ctx);
    for s in file.body.iter() {
        if let Structure::Attribute(a) = s {
            let loc = a.span().map(|r| location(&file, r.start));
            let v = evaluate(&a.value, &ctx).map_err(|m| LoadError {
                location: loc.clone(),
                message: format!("{}: {m}", a.key.as_str()),
            })?;
            into.insert(a.key.as_str().to_string(), (v, loc));
        }
    }
    Ok(())
}

struct Pending<'f> {
    file: &'f File,
    block: &'f Block,
    kind: String,
    name: String,
}

fn err_at(file: &File, span: Option<std::ops::Range<usize>>, message: String) -> LoadError {
    LoadError {
        location: span.map(|r| location(file, r.start)),
        message,
    }
}

/// The value of an expression of the configuration, its arithmetic checked (see `arith`), or
/// the message of why it has none.
fn evaluate(value: &hcl::edit::expr::Expression, ctx: &Context) -> Result<hcl::Value, String> {
    let expr = arith::checked(value.clone().into())?;
    expr.evaluate(ctx).map_err(|e| arith::message(e.kind()))
}

/// Evaluates a block body into a JSON object, recording attribute locations under `prefix`.
fn eval_body(
    file: &File,
    body: &Body,
    ctx: &mut Context,
    prefix: &str,
    locations: &mut BTreeMap<String, Location>,
    skip: &[&str],
) -> Result<Map<String, Value>, LoadError> {
    let mut out = Map::new();
    let mut block_counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let key = a.key.as_str();
                if skip.contains(&key) {
                    continue;
                }
                let path = format!("{prefix}{key}");
                if let Some(r) = a.span() {
                    locations.insert(path.clone(), location(file, r.start));
                }
                let v = evaluate(&a.value, ctx).map_err(|m| {
                    err_at(file, a.value.span().or(a.span()), format!("{key}: {m}"))
                })?;
                out.insert(key.to_string(), hcl_to_json(&v));
            }
            Structure::Block(b) => {
                let ident = b.ident.as_str();
                if ident == "timeouts" && prefix.is_empty() {
                    // Read by the provider, not the plan; judged here all the same, so that a typo
                    // or a duration that does not parse is an error, not a default.
                    check_timeouts(file, b, ctx)?;
                    continue;
                }
                if ident == "lifecycle" || ident == "connection" || ident == "provisioner" {
                    continue;
                }
                if ident == "dynamic" {
                    let Some(label) = b.labels.first().map(|l| l.as_str().to_string()) else {
                        return Err(err_at(
                            file,
                            b.span(),
                            "a dynamic block needs a label".into(),
                        ));
                    };
                    let iterator = b
                        .body
                        .iter()
                        .find_map(|s| match s {
                            Structure::Attribute(a) if a.key.as_str() == "iterator" => {
                                let e: hcl::Expression = a.value.clone().into();
                                match e {
                                    hcl::Expression::Variable(v) => Some(v.to_string()),
                                    _ => None,
                                }
                            }
                            _ => None,
                        })
                        .unwrap_or_else(|| label.clone());
                    let for_each = b
                        .body
                        .iter()
                        .find_map(|s| match s {
                            Structure::Attribute(a) if a.key.as_str() == "for_each" => Some(a),
                            _ => None,
                        })
                        .ok_or_else(|| {
                            err_at(file, b.span(), format!("dynamic {label:?} needs for_each"))
                        })?;
                    let items = evaluate(&for_each.value, ctx)
                        .map_err(|m| err_at(file, for_each.span(), format!("for_each: {m}")))?;
                    let content = b
                        .body
                        .iter()
                        .find_map(|s| match s {
                            Structure::Block(c) if c.ident.as_str() == "content" => Some(c),
                            _ => None,
                        })
                        .ok_or_else(|| {
                            err_at(
                                file,
                                b.span(),
                                format!("dynamic {label:?} needs a content block"),
                            )
                        })?;
                    for (k, v) in
                        collection(&items).map_err(|m| err_at(file, for_each.span(), m))?
                    {
                        // The iterator is declared in place (cloning a context that holds a
                        // whole fleet per item is quadratic), and cleared after the block.
                        let mut it = hcl::Map::new();
                        it.insert("key".to_string(), k);
                        it.insert("value".to_string(), v);
                        ctx.declare_var(iterator.as_str(), hcl::Value::Object(it));
                        let n = block_counts.entry(label.clone()).or_default();
                        let p = format!("{prefix}{label}.{n}.");
                        *n += 1;
                        let o = eval_body(file, &content.body, ctx, &p, locations, &[]);
                        if o.is_err() {
                            ctx.declare_var(iterator.as_str(), hcl::Value::Null);
                        }
                        push_block(&mut out, &label, o?);
                    }
                    ctx.declare_var(iterator.as_str(), hcl::Value::Null);
                    continue;
                }
                let n = block_counts.entry(ident.to_string()).or_default();
                let p = format!("{prefix}{ident}.{n}.");
                if let Some(r) = b.span() {
                    locations.insert(format!("{prefix}{ident}.{n}"), location(file, r.start));
                }
                *n += 1;
                let o = eval_body(file, &b.body, ctx, &p, locations, &[])?;
                push_block(&mut out, ident, o);
            }
        }
    }
    Ok(out)
}

/// A `timeouts { create = "40m" }` block: known operations, and durations that parse.
fn check_timeouts(file: &File, b: &Block, ctx: &Context) -> Result<(), LoadError> {
    const OPS: [&str; 3] = ["create", "update", "delete"];
    for s in b.body.iter() {
        let Structure::Attribute(a) = s else {
            return Err(err_at(
                file,
                s.span(),
                "timeouts holds durations (create = \"40m\"), not blocks".into(),
            ));
        };
        let key = a.key.as_str();
        if !OPS.contains(&key) {
            return Err(err_at(
                file,
                a.span(),
                format!(
                    "timeouts: unsupported argument {key:?}{}; it takes create, update, delete",
                    strict::did_you_mean(key, OPS)
                ),
            ));
        }
        let v = evaluate(&a.value, ctx)
            .map_err(|m| err_at(file, a.span(), format!("timeouts.{key}: {m}")))?;
        let text = v.as_str().unwrap_or_default();
        if let Err(m) = schema::parse_duration(text) {
            return Err(err_at(
                file,
                a.span(),
                format!("timeouts.{key}: {v} is not a duration: {m}"),
            ));
        }
    }
    Ok(())
}

fn push_block(out: &mut Map<String, Value>, name: &str, o: Map<String, Value>) {
    match out.get_mut(name) {
        Some(Value::Array(list)) => list.push(Value::Object(o)),
        _ => {
            out.insert(name.to_string(), Value::Array(vec![Value::Object(o)]));
        }
    }
}

/// The (key, value) pairs of a `for_each` collection: a map, or a set/list of strings.
fn collection(v: &hcl::Value) -> Result<Vec<(hcl::Value, hcl::Value)>, String> {
    match v {
        hcl::Value::Object(m) => Ok(m
            .iter()
            .map(|(k, v)| (hcl::Value::from(k.clone()), v.clone()))
            .collect()),
        hcl::Value::Array(xs) => xs
            .iter()
            .map(|x| match x {
                hcl::Value::String(_) => Ok((x.clone(), x.clone())),
                other => Err(format!(
                    "for_each over a list needs strings (a set of strings), found {other}"
                )),
            })
            .collect(),
        other => Err(format!(
            "for_each needs a map or a set of strings, found {other}"
        )),
    }
}

fn attribute<'b>(block: &'b Block, name: &str) -> Option<&'b hcl::edit::structure::Attribute> {
    block.body.iter().find_map(|s| match s {
        Structure::Attribute(a) if a.key.as_str() == name => Some(a),
        _ => None,
    })
}

/// Converts a variable's value to its declared type (`number`, `bool`, `string`; collections are
/// checked for their shape). A value that does not convert is an error, never a default.
fn typed(value: hcl::Value, ty: Option<&str>) -> Result<hcl::Value, String> {
    let ty = ty.map(|t| t.split_whitespace().collect::<String>());
    let mismatch = |want: &str| format!("the value {value} is not {want}");
    match (ty.as_deref(), &value) {
        (_, hcl::Value::Null) => Ok(value),
        (Some("number"), hcl::Value::Number(_)) => Ok(value),
        (Some("number"), hcl::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| json_to_hcl(&serde_json::json!(f)))
            .ok_or_else(|| mismatch("a number")),
        (Some("number"), _) => Err(mismatch("a number")),
        (Some("bool"), hcl::Value::Bool(_)) => Ok(value),
        (Some("bool"), hcl::Value::String(s)) if s == "true" || s == "false" => {
            Ok((s == "true").into())
        }
        (Some("bool"), _) => Err(mismatch("true or false")),
        (Some("string"), hcl::Value::String(_)) => Ok(value),
        (Some("string"), hcl::Value::Number(n)) => Ok(n.to_string().into()),
        (Some("string"), hcl::Value::Bool(b)) => Ok(b.to_string().into()),
        (Some("string"), _) => Err(mismatch("a string")),
        (Some(t), hcl::Value::Array(_))
            if t.starts_with("list(") || t.starts_with("set(") || t.starts_with("tuple(") =>
        {
            Ok(value)
        }
        (Some(t), _)
            if t.starts_with("list(") || t.starts_with("set(") || t.starts_with("tuple(") =>
        {
            Err(mismatch("a list"))
        }
        (Some(t), hcl::Value::Object(_)) if t.starts_with("map(") || t.starts_with("object(") => {
            Ok(value)
        }
        (Some(t), _) if t.starts_with("map(") || t.starts_with("object(") => Err(mismatch("a map")),
        _ => Ok(value),
    }
}

/// Loads and evaluates the configuration in `dir`.
pub fn load_dir(dir: &Path, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let mut errors = Vec::new();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect(),
        Err(e) => {
            return Err(LoadErrors(vec![LoadError {
                location: None,
                message: format!("{}: {e}", dir.display()),
            }]))
        }
    };
    paths.sort();
    if paths.is_empty() {
        return Err(LoadErrors(vec![LoadError {
            location: None,
            message: format!("{}: no *.tf files", dir.display()),
        }]));
    }
    let mut sources = Vec::new();
    for p in paths {
        match read_text(&p) {
            Ok(text) => sources.push((p, text)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    load_sources(dir, sources, opts)
}

/// Loads configuration files already read (`(path, text)`, in order) as if they were `dir`'s:
/// what `load_dir` does after reading, and what the fuzz target drives.
pub fn load_sources(
    dir: &Path,
    sources: Vec<(PathBuf, String)>,
    opts: &LoadOptions,
) -> Result<Loaded, LoadErrors> {
    // Phase 1, parsing: every file, every syntax error.
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for (p, text) in sources {
        match parse_file(&p, text) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let mut loaded = Loaded {
        dir: dir.to_path_buf(),
        ..Loaded::default()
    };
    let base = {
        let mut c = Context::new();
        functions(&mut c);
        c
    };
    // Phases 2 to 4, variables: declarations, values given, then each one's value.
    let decls = variable_decls(&files, &base, &mut loaded, &mut errors);
    let given = given_values(dir, opts, &decls, &base, &mut errors);
    let vars = variable_values(&decls, given, &mut loaded, &mut errors);
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let mut ctx = base.clone();
    ctx.declare_var("var", hcl::Value::Object(vars));
    let mut path = hcl::Map::new();
    path.insert("module".into(), dir.display().to_string().into());
    path.insert("root".into(), dir.display().to_string().into());
    path.insert(
        "cwd".into(),
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
            .into(),
    );
    ctx.declare_var("path", hcl::Value::Object(path));
    evaluate_locals(&files, &mut ctx)?;
    let (pending, resource_at) = read_blocks(&files, &ctx, &mut loaded)?;
    evaluate_resources(pending, &resource_at, &mut ctx, &mut loaded)?;
    check_instances(&mut loaded)?;
    Ok(loaded)
}

/// A declared variable: its type constraint, its default, and where it is declared.
struct VarDecl {
    ty: Option<String>,
    default: Option<hcl::Value>,
    location: Location,
}

/// Phase 2, declarations: every `variable` block (names unique, arguments known, defaults
/// evaluated with the functions alone); sensitive ones are noted in `loaded`.
fn variable_decls(
    files: &[File],
    base: &Context,
    loaded: &mut Loaded,
    errors: &mut Vec<LoadError>,
) -> BTreeMap<String, VarDecl> {
    let mut decls: BTreeMap<String, VarDecl> = BTreeMap::new();
    for f in files {
        for b in f.body.iter().filter_map(Structure::as_block) {
            if b.ident.as_str() != "variable" {
                continue;
            }
            let Some(name) = b.labels.first().map(|l| l.as_str().to_string()) else {
                errors.push(err_at(
                    f,
                    b.span(),
                    "a variable block needs a name: variable \"NAME\" { … }".into(),
                ));
                continue;
            };
            let loc = location(f, b.span().map(|r| r.start).unwrap_or(0));
            for s in b.body.iter() {
                let (key, span, known) = match s {
                    Structure::Attribute(a) => (a.key.as_str(), a.span(), strict::VARIABLE_ATTRS),
                    Structure::Block(c) => (c.ident.as_str(), c.span(), strict::VARIABLE_BLOCKS),
                };
                if !known.contains(&key) {
                    errors.push(err_at(
                        f,
                        span,
                        format!(
                            "variable {name:?}: unsupported argument {key:?}; a variable takes {}{}",
                            strict::VARIABLE_ATTRS.join(", "),
                            strict::did_you_mean(key, strict::VARIABLE_ATTRS.iter().copied())
                        ),
                    ));
                }
            }
            if let Some(prev) = decls.get(&name) {
                errors.push(LoadError {
                    location: Some(loc.clone()),
                    message: format!(
                        "variable {name:?} is declared twice; the other is at {}",
                        prev.location
                    ),
                });
                errors.push(LoadError {
                    location: Some(prev.location.clone()),
                    message: format!("variable {name:?} is declared twice; the other is at {loc}"),
                });
                continue;
            }
            let ty = attribute(b, "type").map(|a| {
                let e: hcl::Expression = a.value.clone().into();
                e.to_string()
            });
            let default = match attribute(b, "default") {
                Some(a) => match evaluate(&a.value, base) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        errors.push(err_at(
                            f,
                            a.span(),
                            format!("variable {name}: default: {e}"),
                        ));
                        None
                    }
                },
                None => None,
            };
            if let Some(a) = attribute(b, "sensitive") {
                if matches!(evaluate(&a.value, base), Ok(hcl::Value::Bool(true))) {
                    loaded.sensitive_vars.insert(name.clone());
                }
            }
            decls.insert(
                name,
                VarDecl {
                    ty,
                    default,
                    location: loc,
                },
            );
        }
    }
    decls
}

/// Phase 3, values given, by precedence (TF_VAR_ < terraform.tfvars < *.auto.tfvars < -var-file
/// and -var in order): a later one replaces an earlier one. Each with where it was given.
fn given_values(
    dir: &Path,
    opts: &LoadOptions,
    decls: &BTreeMap<String, VarDecl>,
    base: &Context,
    errors: &mut Vec<LoadError>,
) -> BTreeMap<String, (hcl::Value, Option<Location>)> {
    let mut given: BTreeMap<String, (hcl::Value, Option<Location>)> = BTreeMap::new();
    let env = opts
        .env
        .clone()
        .unwrap_or_else(|| std::env::vars().collect());
    for (k, v) in env {
        if let Some(name) = k.strip_prefix("TF_VAR_") {
            given.insert(name.to_string(), (v.into(), None));
        }
    }
    let mut var_files: Vec<PathBuf> = Vec::new();
    let tfvars = dir.join("terraform.tfvars");
    if tfvars.exists() {
        var_files.push(tfvars);
    }
    let mut autos: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".auto.tfvars"))
                })
                .collect()
        })
        .unwrap_or_default();
    autos.sort();
    var_files.extend(autos);
    var_files.extend(opts.var_files.iter().cloned());
    for vf in &var_files {
        if let Err(e) = tfvars_file(vf, &mut given) {
            errors.push(e);
        }
    }
    for (k, v) in &opts.vars {
        let value = match decls.get(k).and_then(|d| d.ty.as_deref()) {
            Some(t) if t != "string" && !t.is_empty() => hcl::parse(&format!("x = {v}"))
                .ok()
                .and_then(|b| b.attributes().next().map(|a| a.expr().clone()))
                .and_then(|e| arith::checked(e).ok())
                .and_then(|e| e.evaluate(base).ok())
                .unwrap_or_else(|| v.clone().into()),
            _ => v.clone().into(),
        };
        given.insert(k.clone(), (value, None));
    }
    given
}

/// Phase 4, each declared variable's value: the one given, else its default, typed by its
/// declaration; a variable with neither is an error. Values for undeclared variables are noted.
fn variable_values(
    decls: &BTreeMap<String, VarDecl>,
    mut given: BTreeMap<String, (hcl::Value, Option<Location>)>,
    loaded: &mut Loaded,
    errors: &mut Vec<LoadError>,
) -> hcl::Map<String, hcl::Value> {
    let mut vars = hcl::Map::new();
    for (name, d) in decls {
        let v = match given.remove(name) {
            Some((v, at)) => match typed(v, d.ty.as_deref()) {
                Ok(v) => v,
                Err(m) => {
                    errors.push(LoadError {
                        location: Some(at.unwrap_or_else(|| d.location.clone())),
                        message: format!("variable {name:?}: {m}"),
                    });
                    continue;
                }
            },
            None => match &d.default {
                Some(v) => match typed(v.clone(), d.ty.as_deref()) {
                    Ok(v) => v,
                    Err(m) => {
                        errors.push(LoadError {
                            location: Some(d.location.clone()),
                            message: format!("variable {name:?}: default: {m}"),
                        });
                        continue;
                    }
                },
                None => {
                    errors.push(LoadError {
                        location: Some(d.location.clone()),
                        message: format!(
                            "variable {name:?} has no value: set it with -var {name}=…, a .tfvars file or TF_VAR_{name}"
                        ),
                    });
                    continue;
                }
            },
        };
        vars.insert(name.clone(), v);
    }
    for (name, (_, loc)) in given {
        if loc.is_some() {
            loaded.notes.push(format!(
                "a value was given for undeclared variable {name:?}; ignored"
            ));
        }
    }
    vars
}

/// Phase 5, locals: collected (names unique, attributes only), then evaluated in rounds until
/// every one that can be is (they may refer to each other); a cycle is named at each member.
/// Declares `local` in `ctx`.
fn evaluate_locals(files: &[File], ctx: &mut Context) -> Result<(), LoadErrors> {
    let mut errors = Vec::new();
    let mut pending_locals: Vec<(&File, &hcl::edit::structure::Attribute)> = Vec::new();
    let mut local_at: BTreeMap<String, Location> = BTreeMap::new();
    for f in files {
        for b in f.body.iter().filter_map(Structure::as_block) {
            if b.ident.as_str() == "locals" {
                for s in b.body.iter() {
                    match s {
                        Structure::Attribute(a) => {
                            let at = location(f, a.span().map(|r| r.start).unwrap_or(0));
                            let key = a.key.as_str().to_string();
                            if let Some(prev) = local_at.get(&key) {
                                errors.push(LoadError {
                                    location: Some(at.clone()),
                                    message: format!(
                                        "local.{key} is defined twice; the other is at {prev}"
                                    ),
                                });
                                errors.push(LoadError {
                                    location: Some(prev.clone()),
                                    message: format!(
                                        "local.{key} is defined twice; the other is at {at}"
                                    ),
                                });
                                continue;
                            }
                            local_at.insert(key, at);
                            pending_locals.push((f, a));
                        }
                        Structure::Block(c) => errors.push(err_at(
                            f,
                            c.span(),
                            format!(
                                "locals hold attributes (name = value), not a {:?} block",
                                c.ident.as_str()
                            ),
                        )),
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let mut locals = hcl::Map::new();
    loop {
        ctx.declare_var("local", hcl::Value::Object(locals.clone()));
        let mut progress = false;
        let mut still = Vec::new();
        let mut last_errors = Vec::new();
        for (f, a) in pending_locals {
            match evaluate(&a.value, ctx) {
                Ok(v) => {
                    locals.insert(a.key.as_str().to_string(), v);
                    progress = true;
                }
                Err(err) => {
                    last_errors.push(err_at(
                        f,
                        a.value.span().or(a.span()),
                        format!("local.{}: {err}", a.key.as_str()),
                    ));
                    still.push((f, a));
                }
            }
        }
        pending_locals = still;
        if pending_locals.is_empty() {
            break;
        }
        if !progress {
            // Name a cycle as a cycle, at each of its members.
            let graph: BTreeMap<String, BTreeSet<String>> = pending_locals
                .iter()
                .map(|(_, a)| {
                    let e: hcl::Expression = a.value.clone().into();
                    (
                        a.key.as_str().to_string(),
                        strict::references(&e.to_string(), "local"),
                    )
                })
                .collect();
            if let Some(c) = strict::cycle(&graph) {
                let shown = c
                    .iter()
                    .map(|n| format!("local.{n}"))
                    .collect::<Vec<_>>()
                    .join(" -> ");
                return Err(LoadErrors(
                    c[..c.len() - 1]
                        .iter()
                        .map(|n| LoadError {
                            location: local_at.get(n).cloned(),
                            message: format!("local.{n} is part of a reference cycle: {shown}"),
                        })
                        .collect(),
                ));
            }
            return Err(LoadErrors(last_errors));
        }
    }
    ctx.declare_var("local", hcl::Value::Object(locals));

    Ok(())
}

/// Where each resource block is, by type and name.
type ResourcePlaces = BTreeMap<(String, String), Location>;

/// Phase 6, the top-level blocks: the provider block read into `loaded`, the resource blocks of
/// this provider to evaluate (unique, named as the rules say), the rest noted or refused.
fn read_blocks<'f>(
    files: &'f [File],
    ctx: &Context,
    loaded: &mut Loaded,
) -> Result<(Vec<Pending<'f>>, ResourcePlaces), LoadErrors> {
    let mut errors = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut provider_at: Option<Location> = None;
    let mut resource_at: BTreeMap<(String, String), Location> = BTreeMap::new();
    for f in files {
        for s in f.body.iter() {
            if let Structure::Attribute(a) = s {
                errors.push(err_at(
                    f,
                    a.span(),
                    format!(
                        "an attribute ({:?}) outside any block: a configuration file holds blocks (resource, variable, locals, provider…)",
                        a.key.as_str()
                    ),
                ));
            }
        }
        for b in f.body.iter().filter_map(Structure::as_block) {
            let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
            let at = location(f, b.span().map(|r| r.start).unwrap_or(0));
            match (b.ident.as_str(), labels.as_slice()) {
                ("provider", [p]) if p == "baremetal" && attribute(b, "alias").is_none() => {
                    if let Some(prev) = &provider_at {
                        errors.push(LoadError {
                            location: Some(at.clone()),
                            message: format!("provider \"baremetal\" is configured twice; the other block is at {prev}"),
                        });
                        errors.push(LoadError {
                            location: Some(prev.clone()),
                            message: format!("provider \"baremetal\" is configured twice; the other block is at {at}"),
                        });
                        continue;
                    }
                    provider_at = Some(at.clone());
                    let mut locs = BTreeMap::new();
                    match eval_body(f, &b.body, &mut ctx.clone(), "", &mut locs, &[]) {
                        Ok(m) => {
                            errors.extend(check_provider(&m, &locs, &at));
                            loaded.provider = m;
                        }
                        Err(e) => errors.push(e),
                    }
                }
                ("provider", [p]) if p == "baremetal" => loaded.notes.push(
                    "provider \"baremetal\" with an alias is not read by bmplan: ignored".into(),
                ),
                ("resource", labels) if labels.len() != 2 => errors.push(LoadError {
                    location: Some(at),
                    message: format!(
                        "a resource block takes two labels, its type and its name (resource \"baremetal_node\" \"r1u01\"); this one has {}",
                        labels.len()
                    ),
                }),
                ("resource", [kind, name]) if kind.starts_with("baremetal_") && schema::resource(kind).is_some() => {
                    if let Some(prev) = resource_at.get(&(kind.clone(), name.clone())) {
                        errors.push(LoadError {
                            location: Some(at.clone()),
                            message: format!("resource {kind}.{name} is declared twice; the other is at {prev}"),
                        });
                        errors.push(LoadError {
                            location: Some(prev.clone()),
                            message: format!("resource {kind}.{name} is declared twice; the other is at {at}"),
                        });
                        continue;
                    }
                    if let Err(e) = strict::name_label(name) {
                        errors.push(LoadError { location: Some(at), message: format!("resource {kind}: {e}") });
                        continue;
                    }
                    resource_at.insert((kind.clone(), name.clone()), at);
                    pending.push(Pending {
                        file: f,
                        block: b,
                        kind: kind.clone(),
                        name: name.clone(),
                    });
                }
                ("provider", [p]) => loaded.notes.push(format!(
                    "provider {p:?} is not baremetal: its configuration is ignored"
                )),
                ("resource", [kind, _]) if kind.starts_with("baremetal_") => {
                    errors.push(err_at(
                        f,
                        b.span(),
                        format!(
                            "unknown resource type {kind:?}{}; known: {}",
                            strict::did_you_mean(kind, schema::RESOURCES.iter().map(|r| r.name)),
                            schema::RESOURCES
                                .iter()
                                .map(|r| r.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                ("resource", [kind, name]) => loaded.notes.push(format!(
                    "resource {kind}.{name} belongs to another provider: ignored"
                )),
                ("data", [kind, name]) => loaded.notes.push(format!(
                    "data source {kind}.{name} is not read by bmplan: ignored"
                )),
                ("module", [name]) => loaded
                    .notes
                    .push(format!("module {name:?} is not loaded by bmplan: ignored")),
                (
                    "variable" | "locals" | "terraform" | "output" | "moved" | "import" | "check"
                    | "removed",
                    _,
                ) => {}
                (other, _) => errors.push(LoadError {
                    location: Some(at),
                    message: format!(
                        "unknown block type {other:?}{}; a configuration holds {}",
                        strict::did_you_mean(other, strict::top_level_blocks().iter().copied()),
                        strict::top_level_blocks().join(", ")
                    ),
                }),
            }
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    Ok((pending, resource_at))
}

/// Phase 7, resources: evaluated in as many rounds as references between them need, each
/// round seeing the resources evaluated before; a cycle is named at each member.
fn evaluate_resources(
    mut pending: Vec<Pending<'_>>,
    resource_at: &ResourcePlaces,
    ctx: &mut Context,
    loaded: &mut Loaded,
) -> Result<(), LoadErrors> {
    let mut resources: BTreeMap<String, hcl::Map<String, hcl::Value>> = BTreeMap::new();
    loop {
        for (kind, by_name) in &resources {
            ctx.declare_var(kind.as_str(), hcl::Value::Object(by_name.clone()));
        }
        let mut progress = false;
        let mut still = Vec::new();
        let mut last_errors = Vec::new();
        for p in pending {
            match eval_resource(&p, ctx) {
                Ok((instances, value)) => {
                    resources
                        .entry(p.kind.clone())
                        .or_default()
                        .insert(p.name.clone(), value);
                    loaded.instances.extend(instances);
                    progress = true;
                }
                Err(e) => {
                    last_errors.push(e);
                    still.push(p);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if !progress {
            // Name a cycle between resources as a cycle, at each of its members.
            let graph: BTreeMap<String, BTreeSet<String>> = pending
                .iter()
                .map(|p| {
                    let text = p.block.body.to_string();
                    let refs = schema::RESOURCES
                        .iter()
                        .flat_map(|r| {
                            strict::references(&text, r.name)
                                .into_iter()
                                .map(move |n| format!("{}.{n}", r.name))
                        })
                        .collect();
                    (format!("{}.{}", p.kind, p.name), refs)
                })
                .collect();
            if let Some(c) = strict::cycle(&graph) {
                let shown = c.join(" -> ");
                return Err(LoadErrors(
                    c[..c.len() - 1]
                        .iter()
                        .map(|n| {
                            let (kind, name) = n.split_once('.').unwrap_or((n, ""));
                            LoadError {
                                location: resource_at
                                    .get(&(kind.to_string(), name.to_string()))
                                    .cloned(),
                                message: format!("{n} is part of a reference cycle: {shown}"),
                            }
                        })
                        .collect(),
                ));
            }
            return Err(LoadErrors(last_errors));
        }
    }
    Ok(())
}

/// Phase 8, every instance against the schema, then (when it has the right shape) against the
/// static rules both tools apply.
fn check_instances(loaded: &mut Loaded) -> Result<(), LoadErrors> {
    loaded.instances.sort_by(|a, b| a.address.cmp(&b.address));
    let mut problems = Vec::new();
    for i in &loaded.instances {
        let found = check_schema(i);
        if found.is_empty() {
            problems.extend(
                crate::rules::resource(&i.kind, &i.attrs)
                    .into_iter()
                    .map(|(path, m)| i.error(&path, m)),
            );
        }
        problems.extend(found);
    }
    if !problems.is_empty() {
        return Err(LoadErrors(problems));
    }
    Ok(())
}

/// Evaluates one resource block into its instances, and the value other resources see for it.
fn eval_resource(p: &Pending, ctx: &Context) -> Result<(Vec<Instance>, hcl::Value), LoadError> {
    let f = p.file;
    let b = p.block;
    let at = location(f, b.span().map(|r| r.start).unwrap_or(0));
    // One working context per resource; each instance declares its `each` / `count` in it.
    let mut work = ctx.clone();
    let with_id = |mut m: Map<String, Value>| {
        let id = m.get("name").cloned().unwrap_or(Value::Null);
        m.entry("id").or_insert(id);
        m
    };
    let make =
        |ctx: &mut Context, key: Option<Value>, address: String| -> Result<Instance, LoadError> {
            let mut locs = BTreeMap::new();
            let attrs = eval_body(
                f,
                &b.body,
                ctx,
                "",
                &mut locs,
                &["for_each", "count", "depends_on", "provider"],
            )?;
            Ok(Instance {
                kind: p.kind.clone(),
                name: p.name.clone(),
                key,
                address,
                attrs: with_id(attrs),
                location: at.clone(),
                attr_locations: locs,
            })
        };
    if let Some(fe) = attribute(b, "for_each") {
        let items =
            evaluate(&fe.value, ctx).map_err(|m| err_at(f, fe.span(), format!("for_each: {m}")))?;
        let mut instances = Vec::new();
        let mut by_key = hcl::Map::new();
        let items = collection(&items).map_err(|m| err_at(f, fe.span(), m))?;
        if items.len() as u64 > MAX_INSTANCES {
            return Err(err_at(
                f,
                fe.span(),
                format!(
                    "for_each makes {} instances; a resource block makes at most {MAX_INSTANCES}",
                    items.len()
                ),
            ));
        }
        for (k, v) in items {
            let key = k.as_str().unwrap_or_default().to_string();
            let mut each = hcl::Map::new();
            each.insert("key".to_string(), k.clone());
            each.insert("value".to_string(), v);
            work.declare_var("each", hcl::Value::Object(each));
            let inst = make(
                &mut work,
                Some(Value::String(key.clone())),
                format!("{}.{}[{key:?}]", p.kind, p.name),
            )?;
            by_key.insert(key, obj(inst.attrs.clone()));
            instances.push(inst);
        }
        return Ok((instances, hcl::Value::Object(by_key)));
    }
    if let Some(c) = attribute(b, "count") {
        let n = evaluate(&c.value, ctx)
            .map_err(|m| err_at(f, c.span(), format!("count: {m}")))?
            .as_u64()
            .ok_or_else(|| err_at(f, c.span(), "count must be a whole number".into()))?;
        if n > MAX_INSTANCES {
            return Err(err_at(
                f,
                c.span(),
                format!("count is {n}; a resource block makes at most {MAX_INSTANCES} instances"),
            ));
        }
        let mut instances = Vec::new();
        let mut list = Vec::new();
        for i in 0..n {
            let mut count = hcl::Map::new();
            count.insert("index".to_string(), i.into());
            work.declare_var("count", hcl::Value::Object(count));
            let inst = make(
                &mut work,
                Some(Value::from(i)),
                format!("{}.{}[{i}]", p.kind, p.name),
            )?;
            list.push(obj(inst.attrs.clone()));
            instances.push(inst);
        }
        return Ok((instances, hcl::Value::Array(list)));
    }
    let inst = make(&mut work, None, format!("{}.{}", p.kind, p.name))?;
    let v = obj(inst.attrs.clone());
    Ok((vec![inst], v))
}

fn kind_ok(kind: Kind, v: &Value) -> bool {
    match (kind, v) {
        (_, Value::Null) => true,
        (Kind::String, Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Bool, Value::String(s)) => s == "true" || s == "false",
        (Kind::Number, Value::Number(_)) => true,
        (Kind::Number, Value::String(s)) => s.parse::<f64>().is_ok(),
        (Kind::StringList, Value::Array(xs)) => xs.iter().all(|x| !x.is_object() && !x.is_array()),
        (Kind::StringMap, Value::Object(m)) => m.values().all(|x| !x.is_object() && !x.is_array()),
        (Kind::StringListMap, Value::Object(m)) => m.values().all(|x| {
            x.as_array()
                .is_some_and(|a| a.iter().all(|i| !i.is_object() && !i.is_array()))
        }),
        _ => false,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::String => "a string",
        Kind::Bool => "a bool",
        Kind::Number => "a number",
        Kind::StringList => "a list of strings",
        Kind::StringMap => "a map of strings",
        Kind::StringListMap => "a map of lists of strings",
    }
}

fn check_attrs(
    inst: &Instance,
    m: &Map<String, Value>,
    attrs: &[AttrSpec],
    blocks: &[BlockSpec],
    prefix: &str,
    out: &mut Vec<LoadError>,
) {
    for (k, v) in m {
        let path = format!("{prefix}{k}");
        if let Some(a) = attrs.iter().find(|a| a.name == k) {
            if a.presence == schema::Presence::Computed && k != "id" {
                out.push(inst.error(&path, format!("{k} is computed and cannot be set")));
            } else if !kind_ok(a.kind, v) {
                out.push(inst.error(
                    &path,
                    format!("{k} must be {}, not {}", kind_name(a.kind), shown(v)),
                ));
            }
        } else if let Some(bs) = blocks.iter().find(|b| b.name == k) {
            let Some(list) = v.as_array().filter(|l| l.iter().all(Value::is_object)) else {
                out.push(inst.error(
                    &path,
                    format!("{k} is a block: write {k} {{ … }}, not {k} = {}", shown(v)),
                ));
                continue;
            };
            if bs.max_one && list.len() > 1 {
                out.push(inst.error(
                    &format!("{path}.1"),
                    format!("only one {k} block is allowed"),
                ));
            }
            for (i, item) in list.iter().enumerate() {
                if let Some(o) = item.as_object() {
                    check_attrs(inst, o, bs.attrs, bs.blocks, &format!("{path}.{i}."), out);
                }
            }
        } else {
            let known: Vec<&str> = attrs
                .iter()
                .map(|a| a.name)
                .chain(blocks.iter().map(|b| b.name))
                .collect();
            // An unknown block is shown where it starts (its first occurrence).
            let at = if v.as_array().is_some_and(|l| l.iter().all(Value::is_object))
                && inst.attr_locations.contains_key(&format!("{path}.0"))
            {
                format!("{path}.0")
            } else {
                path.clone()
            };
            let whose = if prefix.is_empty() {
                inst.kind.clone()
            } else {
                format!("{} block", prefix.trim_end_matches('.'))
            };
            out.push(inst.error(
                &at,
                format!(
                    "unsupported argument {k:?}{}; {whose} takes {}",
                    strict::did_you_mean(k, known.iter().copied()),
                    known.join(", ")
                ),
            ));
        }
    }
    for a in attrs
        .iter()
        .filter(|a| a.presence == schema::Presence::Required)
    {
        if m.get(a.name).is_none_or(Value::is_null) {
            let at = prefix.trim_end_matches('.');
            out.push(inst.error(at, format!("{}{} is required", prefix, a.name)));
        }
    }
}

/// A value as an error message may show it: escaped, and cut after 60 characters.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    let cut: String = text.chars().take(60).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{}{more}", crate::text::printable(&cut, false))
}

/// Checks the `provider "baremetal"` block: known settings of the right types, and the rules the
/// provider's own validation applies (conflicts, ranges, files).
fn check_provider(
    m: &Map<String, Value>,
    locs: &BTreeMap<String, Location>,
    block: &Location,
) -> Vec<LoadError> {
    let mut out = Vec::new();
    let at = |k: &str| Some(locs.get(k).cloned().unwrap_or_else(|| block.clone()));
    let known = || schema::PROVIDER.iter().map(|a| a.name);
    for (k, v) in m {
        match schema::PROVIDER.iter().find(|a| a.name == k) {
            None => out.push(LoadError {
                location: at(k),
                message: format!(
                    "provider \"baremetal\": unsupported argument {k:?}{}; it takes {}",
                    strict::did_you_mean(k, known()),
                    known().collect::<Vec<_>>().join(", ")
                ),
            }),
            Some(a) if !kind_ok(a.kind, v) => out.push(LoadError {
                location: at(k),
                message: format!(
                    "provider \"baremetal\": {k} must be {}, not {}",
                    kind_name(a.kind),
                    shown(v)
                ),
            }),
            Some(_) => {}
        }
    }
    if !out.is_empty() {
        return out;
    }
    let text = |k: &str| text_of(m, k);
    let settings = schema::ProviderSettings {
        inventory: text("inventory"),
        project: text("project"),
        role: text("role"),
        credentials_key: text("credentials_key"),
        credentials_key_file: text("credentials_key_file"),
        ca_cert: text("ca_cert"),
        insecure: m.get("insecure").and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(s == "true"),
            _ => None,
        }),
        max_parallel: m
            .get("max_parallel")
            .and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
            .map(|f: f64| if f.fract() == 0.0 { f as i64 } else { 0 }),
        default_timeout: text("default_timeout"),
        media_listen: text("media_listen"),
        media_url: text("media_url"),
    };
    for p in schema::validate_provider(&settings) {
        out.push(LoadError {
            location: at(p.attribute),
            message: format!("provider \"baremetal\": {}: {}", p.summary, p.detail),
        });
    }
    out
}

/// Checks an instance against its resource schema: known attributes and blocks, types, required ones.
fn check_schema(inst: &Instance) -> Vec<LoadError> {
    let Some(spec) = schema::resource(&inst.kind) else {
        return vec![inst.error("", "unknown resource type")];
    };
    let mut out = Vec::new();
    check_attrs(inst, &inst.attrs, spec.attrs, spec.blocks, "", &mut out);
    out
}

/// An attribute as text (numbers and bools written out), `None` when absent or null.
pub fn text_of(attrs: &Map<String, Value>, k: &str) -> Option<String> {
    attrs.get(k).filter(|v| !v.is_null()).map(scalar_text)
}

/// A list-of-strings attribute, empty when absent or null (other elements are skipped).
pub fn texts_of(attrs: &Map<String, Value>, k: &str) -> Vec<String> {
    attrs
        .get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A scalar attribute as text (a string as it is, anything else as JSON).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)], opts: LoadOptions) -> Result<Loaded, LoadErrors> {
        let dir = tempfile::tempdir().unwrap();
        for (n, t) in files {
            std::fs::write(dir.path().join(n), t).unwrap();
        }
        let opts = LoadOptions {
            env: Some(opts.env.unwrap_or_default()),
            ..opts
        };
        let r = load_dir(dir.path(), &opts);
        drop(dir);
        r
    }

    #[test]
    fn variables_locals_for_each_count_and_references_evaluate() {
        let tf = r#"
variable "racks" {
  type    = number
  default = 1
}
variable "pw" {
  sensitive = true
}
locals {
  nodes = { for i in range(1, 3) : format("r1u%02d", i) => { port = "Gi0/${i}" } }
  vlan  = local.base + 100
  base  = 100
}
resource "baremetal_profile" "gold" {
  name = "gold"
  bios = { ProcTurboMode = "Enabled", BootMode = "Uefi" }
  boot {
    mode = "UEFI"
  }
}
resource "baremetal_node" "n" {
  for_each = local.nodes
  name     = each.key
  bmc_url  = "https://127.0.0.1:${8000 + var.racks}"
  username = "root"
  password = var.pw
  profile  = baremetal_profile.gold.name
  port {
    switch   = "tor1"
    port     = each.value.port
    networks = ["vlan${local.vlan}"]
  }
}
resource "baremetal_network" "v" {
  count   = 2
  name    = "net${count.index}"
  vlan_id = 100 + count.index
}
resource "aws_instance" "x" {}
"#;
        let l = load(
            &[("main.tf", tf), ("terraform.tfvars", "pw = \"s3cret\"\n")],
            LoadOptions {
                vars: vec![("racks".into(), "2".into())],
                ..LoadOptions::default()
            },
        )
        .unwrap();
        let addrs: Vec<&str> = l.instances.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(
            addrs,
            vec![
                "baremetal_network.v[0]",
                "baremetal_network.v[1]",
                "baremetal_node.n[\"r1u01\"]",
                "baremetal_node.n[\"r1u02\"]",
                "baremetal_profile.gold"
            ]
        );
        let n = &l.instances[3];
        assert_eq!(n.str("bmc_url"), Some("https://127.0.0.1:8002"));
        assert_eq!(n.str("password"), Some("s3cret"));
        assert_eq!(n.str("profile"), Some("gold"));
        assert_eq!(n.attrs["port"][0]["port"], "Gi0/2");
        assert_eq!(n.attrs["port"][0]["networks"][0], "vlan200");
        assert_eq!(l.instances[1].attrs["vlan_id"], 101);
        assert!(l.sensitive_vars.contains("pw"));
        assert!(l.notes.iter().any(|n| n.contains("aws_instance.x")));
    }

    #[test]
    fn malformed_hcl_is_reported_at_file_line_col_with_a_caret() {
        let e = load(
            &[(
                "main.tf",
                "resource \"baremetal_network\" \"a\" {\n  name = \n}\n",
            )],
            LoadOptions::default(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("main.tf:2:") || text.contains("main.tf:3:"),
            "{text}"
        );
        assert!(text.contains("malformed HCL"), "{text}");
        assert!(text.contains('^'), "{text}");
    }

    #[test]
    fn an_unsupported_expression_points_at_its_attribute() {
        let tf = "resource \"baremetal_network\" \"a\" {\n  name    = \"a\"\n  vlan_id = nosuchfn(3)\n}\n";
        let e = load(&[("main.tf", tf)], LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("main.tf:3:13: vlan_id: undefined function `nosuchfn`"),
            "{e}"
        );
        assert!(
            e.contains("  vlan_id = nosuchfn(3)\n              ^"),
            "{e}"
        );
    }

    #[test]
    fn schema_errors_name_the_attribute_and_its_place() {
        let tf = "resource \"baremetal_network\" \"a\" {\n  name = \"a\"\n  vlan = 3\n}\n";
        let e = load(&[("main.tf", tf)], LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("main.tf:3:3: baremetal_network.a: unsupported argument \"vlan\""),
            "{e}"
        );
        assert!(e.contains("vlan_id is required"), "{e}");
    }

    #[test]
    fn a_variable_without_a_value_says_how_to_give_one() {
        let e = load(
            &[("main.tf", "variable \"lab_manifest\" {}\n")],
            LoadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("main.tf:1:1: variable \"lab_manifest\" has no value"),
            "{e}"
        );
        let ok = load(
            &[("main.tf", "variable \"x\" {}\n")],
            LoadOptions {
                env: Some(vec![("TF_VAR_x".into(), "1".into())]),
                ..LoadOptions::default()
            },
        );
        assert!(ok.is_ok());
    }
}
