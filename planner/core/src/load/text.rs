//! A configuration file's text before it is parsed: its size, its encoding and how deep its brackets
//! nest are checked here, so that the parser and the evaluator (both recursive) only ever see input
//! they can take, and every refusal names its line and column.

use std::path::Path;

use super::{LoadError, Location};

/// The largest `.tf` or `.tfvars` file, in bytes.
pub const MAX_FILE: usize = 16 << 20;
/// How deep brackets, braces, parentheses and template interpolations may nest.
pub const MAX_DEPTH: usize = 64;

/// Where each line starts: offsets to line and column in O(log n).
#[derive(Debug, Clone, Default)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The location of byte `offset` of `text` (the text these lines were made from).
    pub fn locate(&self, path: &Path, text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        let col = text[start..offset].chars().count() + 1;
        let line_text = text[start..].lines().next().unwrap_or_default();
        Location {
            file: path.to_path_buf(),
            line,
            col,
            text: crate::text::printable(line_text, false).into_owned(),
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn error_at(path: &Path, text: &str, offset: usize, message: String) -> LoadError {
    LoadError {
        location: Some(Lines::new(text).locate(path, text, offset)),
        message,
    }
}

fn too_large(path: &Path, len: usize) -> Result<(), LoadError> {
    if len <= MAX_FILE {
        return Ok(());
    }
    Err(LoadError {
        location: None,
        message: format!(
            "{}: the file is {len} bytes; configuration files are at most {MAX_FILE}",
            path.display()
        ),
    })
}

/// A file's bytes as text: refused (at the offending line) when too large, not UTF-8, starting with
/// a byte-order mark, or nested deeper than [`MAX_DEPTH`].
pub fn checked(path: &Path, bytes: Vec<u8>) -> Result<String, LoadError> {
    too_large(path, bytes.len())?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.utf8_error().valid_up_to();
            let bad = e.as_bytes()[good];
            // The text up to the bad byte, which is shown as U+FFFD where the caret points.
            let mut shown = String::from_utf8_lossy(&e.as_bytes()[..good]).into_owned();
            shown.push('\u{fffd}');
            return Err(LoadError {
                location: Some(Lines::new(&shown).locate(path, &shown, good)),
                message: format!(
                    "the file is not UTF-8: byte 0x{bad:02x} at offset {good} is not valid here"
                ),
            });
        }
    };
    check(path, &text)?;
    Ok(text)
}

/// The checks of [`checked`] on text already decoded.
pub fn check(path: &Path, text: &str) -> Result<(), LoadError> {
    too_large(path, text.len())?;
    if text.starts_with('\u{feff}') {
        return Err(error_at(
            path,
            text,
            0,
            "the file starts with a UTF-8 byte-order mark (EF BB BF), which HCL does not allow: save it without one".into(),
        ));
    }
    if let Some(at) = too_deep(text) {
        return Err(error_at(
            path,
            text,
            at,
            format!("brackets, braces and parentheses nest more than {MAX_DEPTH} deep here"),
        ));
    }
    Ok(())
}

#[derive(Clone, PartialEq)]
enum Mode {
    Code,
    Quoted,
    Heredoc(String),
}

/// The offset where nesting first exceeds [`MAX_DEPTH`], if it does. Strings, comments and heredocs
/// are skipped except for their `${ … }` and `%{ … }` parts, which are code again.
fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut stack = vec![Mode::Code];
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        let top = stack.last().cloned().unwrap_or(Mode::Code);
        match top {
            Mode::Code => match c {
                b'"' => stack.push(Mode::Quoted),
                b'(' | b'[' | b'{' => stack.push(Mode::Code),
                b')' | b']' | b'}' if stack.len() > 1 => {
                    stack.pop();
                }
                b'#' => i = skip_line(b, i),
                b'/' if b.get(i + 1) == Some(&b'/') => i = skip_line(b, i),
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    i = text[i + 2..].find("*/").map_or(b.len(), |j| i + 2 + j + 1);
                }
                b'<' if b.get(i + 1) == Some(&b'<') => {
                    let mut j = i + 2;
                    if b.get(j) == Some(&b'-') {
                        j += 1;
                    }
                    let start = j;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    if j > start && matches!(b.get(j), Some(b'\n') | Some(b'\r')) {
                        stack.push(Mode::Heredoc(text[start..j].to_string()));
                        i = j;
                    }
                }
                _ => {}
            },
            Mode::Quoted => match c {
                b'\\' => i += 1,
                b'"' | b'\n' => {
                    stack.pop();
                }
                b'$' | b'%' if b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&b'{') => i += 2,
                b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                    stack.push(Mode::Code);
                    i += 1;
                }
                _ => {}
            },
            Mode::Heredoc(ref marker) => {
                if line_start {
                    let end = text[i..].find('\n').map_or(b.len(), |j| i + j);
                    if text[i..end].trim() == marker {
                        stack.pop();
                        i = end;
                        line_start = true;
                        continue;
                    }
                }
                match c {
                    b'$' | b'%' if b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&b'{') => {
                        i += 2
                    }
                    b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                        stack.push(Mode::Code);
                        i += 1;
                    }
                    _ => {}
                }
            }
        }
        if stack.len() > MAX_DEPTH + 1 {
            return Some(i.min(b.len().saturating_sub(1)));
        }
        if i < b.len() {
            line_start = b[i] == b'\n';
        }
        i += 1;
    }
    None
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(b.len(), |j| i + j - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Option<(usize, usize, String)> {
        check(Path::new("main.tf"), text).err().map(|e| {
            let l = e.location.unwrap();
            (l.line, l.col, e.message)
        })
    }

    #[test]
    fn deep_nesting_is_refused_where_it_crosses_the_limit() {
        let ok = format!("x = {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(err(&ok), None);
        let deep = format!("\nx = {}{}\n", "[".repeat(2000), "]".repeat(2000));
        let (line, col, m) = err(&deep).unwrap();
        assert_eq!((line, col), (2, 5 + MAX_DEPTH));
        assert!(m.contains("nest more than 64"), "{m}");
        let parens = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&parens).is_some());
    }

    #[test]
    fn brackets_in_strings_comments_and_heredocs_do_not_count_but_interpolations_do() {
        let many = "[".repeat(500);
        let text = format!(
            "a = \"{many}\"\n# {many}\n// {many}\n/* {many} */\nb = <<EOT\n{many}\nEOT\nc = \"${{[1]}}\"\n"
        );
        assert_eq!(err(&text), None);
        let interp = format!("a = \"{}\"\n", "${[".repeat(100));
        assert!(err(&interp).is_some());
    }

    #[test]
    fn a_bom_and_bad_utf8_are_located() {
        let (line, col, m) = err("\u{feff}x = 1\n").unwrap();
        assert_eq!((line, col), (1, 1));
        assert!(m.contains("byte-order mark"));
        let e = checked(Path::new("main.tf"), b"a = 1\nb = \"x\xffy\"\n".to_vec()).unwrap_err();
        let l = e.location.unwrap();
        assert_eq!((l.line, l.col), (2, 7));
        assert!(e.message.contains("0xff"), "{}", e.message);
    }
}
