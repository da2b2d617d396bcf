//! A small JSON writer for the hot path (observations), plus the two spellings the server
//! uses: Python's `json.dumps` default (`", "`, `": "`, ASCII-only) inside base64
//! payloads, and compact UTF-8 from Django REST Framework everywhere else.

use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `json.dumps(obj)`: `{"a": 1, "b": [1, 2]}`, non-ASCII escaped.
    Python,
    /// `{"a":1,"b":[1,2]}`
    Compact,
}

/// A JSON value whose objects keep PostgreSQL JSONB key order (shorter keys first, then
/// bytewise), which is how the server returns stored payloads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum J {
    Obj(Vec<(&'static str, J)>),
    Arr(Vec<J>),
    Str(String),
    S(&'static str),
    Int(i64),
    /// Written like Python's `repr(float)`: `7411.0`, `61.3`.
    Float(f64),
    Bool(bool),
}

/// An object in JSONB key order.
pub(crate) fn obj(mut entries: Vec<(&'static str, J)>) -> J {
    entries.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    J::Obj(entries)
}

/// `{"unit": .., "value": ..}`
pub(crate) fn unit_value(unit: &'static str, value: J) -> J {
    J::Obj(vec![("unit", J::S(unit)), ("value", value)])
}

pub(crate) fn round1(x: f32) -> J {
    J::Float((x as f64 * 10.0).round() / 10.0)
}

pub(crate) fn round2(x: f32) -> J {
    J::Float((x as f64 * 100.0).round() / 100.0)
}

pub(crate) fn int(x: f32) -> J {
    J::Int(x.round() as i64)
}

impl J {
    pub fn write(&self, out: &mut String, style: Style) {
        let (comma, colon) = match style {
            Style::Python => (", ", ": "),
            Style::Compact => (",", ":"),
        };
        match self {
            J::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(comma);
                    }
                    push_str(out, k, style);
                    out.push_str(colon);
                    v.write(out, style);
                }
                out.push('}');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(comma);
                    }
                    v.write(out, style);
                }
                out.push(']');
            }
            J::Str(s) => push_str(out, s, style),
            J::S(s) => push_str(out, s, style),
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::Float(x) => push_float(out, *x),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }

    pub fn to_string(&self, style: Style) -> String {
        let mut s = String::new();
        self.write(&mut s, style);
        s
    }
}

/// Python's float repr for the magnitudes we generate: integral values keep `.0`.
pub(crate) fn push_float(out: &mut String, x: f64) {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        let _ = write!(out, "{x:.1}");
    } else {
        let _ = write!(out, "{x}");
    }
}

/// A JSON string literal. Python style escapes non-ASCII as `\uXXXX` like `json.dumps`.
pub(crate) fn push_str(out: &mut String, s: &str, style: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if style == Style::Python && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_spellings() {
        let v = obj(vec![
            ("header", obj(vec![("uuid", J::S("x"))])),
            (
                "body",
                obj(vec![
                    ("effective_time_frame", J::Int(1)),
                    ("heart_rate", J::Float(61.0)),
                ]),
            ),
        ]);
        assert_eq!(
            v.to_string(Style::Python),
            r#"{"body": {"heart_rate": 61.0, "effective_time_frame": 1}, "header": {"uuid": "x"}}"#
        );
        assert_eq!(
            v.to_string(Style::Compact),
            r#"{"body":{"heart_rate":61.0,"effective_time_frame":1},"header":{"uuid":"x"}}"#
        );
        let mut s = String::new();
        push_str(&mut s, "é\"", Style::Python);
        assert_eq!(s, r#""\u00e9\"""#);
        assert_eq!(round1(6.3).to_string(Style::Compact), "6.3");
        assert_eq!(round2(3.4699998).to_string(Style::Compact), "3.47");
    }
}
