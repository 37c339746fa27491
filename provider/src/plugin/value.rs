//! Terraform values, and their two wire encodings: msgpack (every value Terraform sends and takes
//! back) and JSON (stored state, given to `UpgradeResourceState`).
//!
//! Values are read without a schema. That is enough here: objects and maps are both maps with string
//! keys, lists, sets and tuples are all arrays, and an unknown value is msgpack extension 0 (or 12,
//! an unknown with refinements, which are not needed and dropped). Numbers are whole numbers
//! (`Number`) unless they have a fraction (`Float`), so a configuration's `1.5` is never read as 1 or
//! 2 without a word.

use std::collections::BTreeMap;

/// A Terraform value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
    Bool(bool),
    Number(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// Why bytes are not a value.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Nesting deeper than any schema here: a value that deep is refused, not recursed into.
const MAX_DEPTH: usize = 64;

/// Cty's msgpack extension code for an unknown value, and for an unknown with refinements.
const UNKNOWN: i8 = 0;
const UNKNOWN_REFINED: i8 = 12;

impl Value {
    /// The msgpack encoding Terraform reads.
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, self);
        out
    }

    /// A value from its msgpack encoding; an empty input is null (Terraform sends nothing for a
    /// missing value).
    pub fn from_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        let mut rd = bytes;
        let v = read(&mut rd, 0)?;
        if !rd.is_empty() {
            return Err(DecodeError(format!(
                "{} bytes left after a msgpack value",
                rd.len()
            )));
        }
        Ok(v)
    }

    /// A value from JSON (stored state has no unknown values).
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Number(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(xs) => Value::List(xs.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

fn write(out: &mut Vec<u8>, v: &Value) {
    // Writing to a Vec cannot fail.
    match v {
        Value::Null => {
            let _ = rmp::encode::write_nil(out);
        }
        Value::Unknown => {
            let _ = rmp::encode::write_ext_meta(out, 1, UNKNOWN);
            out.push(0);
        }
        Value::Bool(b) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        Value::Number(n) => {
            let _ = rmp::encode::write_sint(out, *n);
        }
        Value::Float(f) => {
            let _ = rmp::encode::write_f64(out, *f);
        }
        Value::String(s) => {
            let _ = rmp::encode::write_str(out, s);
        }
        Value::List(xs) => {
            let _ = rmp::encode::write_array_len(out, xs.len() as u32);
            for x in xs {
                write(out, x);
            }
        }
        Value::Map(m) => {
            let _ = rmp::encode::write_map_len(out, m.len() as u32);
            for (k, x) in m {
                let _ = rmp::encode::write_str(out, k);
                write(out, x);
            }
        }
    }
}

fn take<'a>(rd: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if rd.len() < n {
        return Err(DecodeError("msgpack value cut short".into()));
    }
    let (head, rest) = rd.split_at(n);
    *rd = rest;
    Ok(head)
}

fn text(rd: &mut &[u8], n: usize) -> Result<String, DecodeError> {
    let b = take(rd, n)?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("msgpack string is not UTF-8".into()))
}

fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        Value::Number(f as i64)
    } else {
        Value::Float(f)
    }
}

fn read(rd: &mut &[u8], depth: usize) -> Result<Value, DecodeError> {
    use rmp::Marker as M;
    if depth > MAX_DEPTH {
        return Err(DecodeError(format!("value nested deeper than {MAX_DEPTH}")));
    }
    let marker =
        rmp::decode::read_marker(rd).map_err(|_| DecodeError("msgpack value cut short".into()))?;
    let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let len =
        |rd: &mut &[u8], n: usize| -> Result<usize, DecodeError> { Ok(be(take(rd, n)?) as usize) };
    let int = |u: u64| -> Result<Value, DecodeError> {
        i64::try_from(u)
            .map(Value::Number)
            .map_err(|_| DecodeError(format!("number {u} is too large")))
    };
    Ok(match marker {
        M::Null => Value::Null,
        M::True => Value::Bool(true),
        M::False => Value::Bool(false),
        M::FixPos(n) => Value::Number(i64::from(n)),
        M::FixNeg(n) => Value::Number(i64::from(n)),
        M::U8 => int(be(take(rd, 1)?))?,
        M::U16 => int(be(take(rd, 2)?))?,
        M::U32 => int(be(take(rd, 4)?))?,
        M::U64 => int(be(take(rd, 8)?))?,
        M::I8 => Value::Number(i64::from(take(rd, 1)?[0] as i8)),
        M::I16 => Value::Number(i64::from(be(take(rd, 2)?) as u16 as i16)),
        M::I32 => Value::Number(i64::from(be(take(rd, 4)?) as u32 as i32)),
        M::I64 => Value::Number(be(take(rd, 8)?) as i64),
        M::F32 => float(f64::from(f32::from_bits(be(take(rd, 4)?) as u32))),
        M::F64 => float(f64::from_bits(be(take(rd, 8)?))),
        M::FixStr(n) => Value::String(text(rd, usize::from(n))?),
        M::Str8 => {
            let n = len(rd, 1)?;
            Value::String(text(rd, n)?)
        }
        M::Str16 => {
            let n = len(rd, 2)?;
            Value::String(text(rd, n)?)
        }
        M::Str32 => {
            let n = len(rd, 4)?;
            Value::String(text(rd, n)?)
        }
        M::FixArray(n) => list(rd, usize::from(n), depth)?,
        M::Array16 => {
            let n = len(rd, 2)?;
            list(rd, n, depth)?
        }
        M::Array32 => {
            let n = len(rd, 4)?;
            list(rd, n, depth)?
        }
        M::FixMap(n) => map(rd, usize::from(n), depth)?,
        M::Map16 => {
            let n = len(rd, 2)?;
            map(rd, n, depth)?
        }
        M::Map32 => {
            let n = len(rd, 4)?;
            map(rd, n, depth)?
        }
        M::FixExt1
        | M::FixExt2
        | M::FixExt4
        | M::FixExt8
        | M::FixExt16
        | M::Ext8
        | M::Ext16
        | M::Ext32 => {
            let n = match marker {
                M::FixExt1 => 1,
                M::FixExt2 => 2,
                M::FixExt4 => 4,
                M::FixExt8 => 8,
                M::FixExt16 => 16,
                M::Ext8 => len(rd, 1)?,
                M::Ext16 => len(rd, 2)?,
                _ => len(rd, 4)?,
            };
            let code = take(rd, 1)?[0] as i8;
            take(rd, n)?;
            match code {
                UNKNOWN | UNKNOWN_REFINED => Value::Unknown,
                other => {
                    return Err(DecodeError(format!(
                        "msgpack extension {other} is not a value"
                    )))
                }
            }
        }
        other => return Err(DecodeError(format!("msgpack {other:?} is not a value"))),
    })
}

fn list(rd: &mut &[u8], n: usize, depth: usize) -> Result<Value, DecodeError> {
    // Each element takes at least a byte: a length beyond what is left is a lie, not a reason to
    // reserve memory.
    if n > rd.len() {
        return Err(DecodeError("msgpack array longer than its input".into()));
    }
    let mut xs = Vec::with_capacity(n);
    for _ in 0..n {
        xs.push(read(rd, depth + 1)?);
    }
    Ok(Value::List(xs))
}

fn map(rd: &mut &[u8], n: usize, depth: usize) -> Result<Value, DecodeError> {
    if n > rd.len() {
        return Err(DecodeError("msgpack map longer than its input".into()));
    }
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let Value::String(k) = read(rd, depth + 1)? else {
            return Err(DecodeError("msgpack map key is not a string".into()));
        };
        let v = read(rd, depth + 1)?;
        if m.insert(k.clone(), v).is_some() {
            return Err(DecodeError(format!("msgpack map has the key {k:?} twice")));
        }
    }
    Ok(Value::Map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        let mut m = BTreeMap::new();
        m.insert("name".to_string(), Value::String("r1u01".into()));
        m.insert("cpus".to_string(), Value::Number(32));
        m.insert("big".to_string(), Value::Number(i64::MAX));
        m.insert("neg".to_string(), Value::Number(-40_000));
        m.insert("ratio".to_string(), Value::Float(1.5));
        m.insert("on".to_string(), Value::Bool(true));
        m.insert("id".to_string(), Value::Unknown);
        m.insert("gone".to_string(), Value::Null);
        m.insert(
            "port".to_string(),
            Value::List(vec![Value::Map(BTreeMap::from([(
                "networks".to_string(),
                Value::List(vec![Value::String("x".repeat(300))]),
            )]))]),
        );
        Value::Map(m)
    }

    #[test]
    fn msgpack_round_trips() {
        let v = sample();
        assert_eq!(Value::from_msgpack(&v.to_msgpack()).unwrap(), v);
    }

    #[test]
    fn whole_floats_are_numbers_and_fractions_stay_floats() {
        let mut b = Vec::new();
        rmp::encode::write_f64(&mut b, 4.0).unwrap();
        assert_eq!(Value::from_msgpack(&b).unwrap(), Value::Number(4));
        b.clear();
        rmp::encode::write_f64(&mut b, 4.25).unwrap();
        assert_eq!(Value::from_msgpack(&b).unwrap(), Value::Float(4.25));
    }

    #[test]
    fn a_refined_unknown_is_unknown() {
        // Extension 12 with a refinement payload (not null), as Terraform sends for some values.
        let b = [0xd5, 12, 0x81, 0x01];
        assert_eq!(Value::from_msgpack(&b).unwrap(), Value::Unknown);
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        // xorshift: seeded, so a failure repeats.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seed = sample().to_msgpack();
        for i in 0..50_000 {
            let mut b = if i % 2 == 0 {
                seed.clone()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            for _ in 0..1 + next() % 4 {
                if b.is_empty() {
                    break;
                }
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            let _ = Value::from_msgpack(&b);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic_or_an_allocation() {
        for b in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xa5, b'a'],
            &[0xd4, 7, 0],
            &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0xc1],
            &[0x81, 0x01, 0x02],
            &[0xc0, 0xc0],
            &[0x82, 0xa1, b'a', 0x01, 0xa1, b'a', 0x02],
        ] {
            assert!(Value::from_msgpack(b).is_err(), "{b:?}");
        }
        let deep = [0x91u8; 200];
        assert!(Value::from_msgpack(&deep).is_err());
    }
}
