//! The JSON body Duo's own clients send with v5 requests.
//!
//! Duo hashes the exact body bytes, so any serialization is *accepted*; we match the official
//! clients' `json.dumps(params, sort_keys=True, separators=(',', ':'))` byte for byte anyway, so
//! that a request signed here and one signed by Duo's Python client are identical and can be
//! compared in differential tests. That means: keys sorted by code point at every level, no
//! whitespace, non-ASCII and control characters escaped as lower-case `\uXXXX` (astral
//! characters as surrogate pairs), and floats in Python's `repr` form (`1e+16`, `1.5e-05`).

use serde_json::{Map, Number, Value};

/// Serializes a JSON object the way Duo's official clients do (see the module docs).
pub(crate) fn canonical_json(object: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::with_capacity(64);
    write_object(&mut out, object);
    out.into_bytes()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    // Sort explicitly: serde_json's map keeps insertion order when any crate in the build turns
    // on its `preserve_order` feature. `str` ordering is code-point ordering, as in Python.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let escape_unit = |out: &mut String, unit: u16| {
        out.push_str("\\u");
        for shift in [12, 8, 4, 0] {
            out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
        }
    };
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    escape_unit(out, *unit);
                }
            }
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) {
    if n.is_f64() {
        match n.as_f64() {
            Some(f) => write_python_float(out, f),
            None => out.push_str(&n.to_string()),
        }
    } else {
        // Integers print the same in Python and serde_json.
        out.push_str(&n.to_string());
    }
}

/// Writes a finite float as Python's `repr` does: the shortest round-tripping digits, in fixed
/// notation when the decimal exponent is in `-4..16`, otherwise as `d.ddde+XX`.
fn write_python_float(out: &mut String, f: f64) {
    // serde_json never holds NaN or infinities, but stay total.
    if !f.is_finite() {
        out.push_str(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    // ryu prints the shortest round-tripping digits and, like Python's dtoa, breaks ties to
    // even (Rust's own `{:e}` does not: 26835570246813.3125 → …312 here, …313 there); we only
    // rearrange ryu's digits into Python's layout.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let all: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let trimmed = all.trim_start_matches('0');
    // Value = 0.DIGITS × 10^decpt.
    let decpt = int_len + exp - (all.len() - trimmed.len()) as i32;
    let digits = trimmed.trim_end_matches('0');
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let point = decpt as usize;
            if digits.len() <= point {
                out.push_str(digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let abs = e.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> String {
        match v {
            Value::Object(m) => String::from_utf8(canonical_json(&m)).unwrap(),
            other => {
                let mut s = String::new();
                write_value(&mut s, &other);
                s
            }
        }
    }

    #[test]
    fn matches_python_json_dumps() {
        // Expected strings are what CPython 3.11 prints for
        // json.dumps(x, sort_keys=True, separators=(',', ':')).
        assert_eq!(
            enc(json!({"b": 1, "a": [true, null, "x"]})),
            r#"{"a":[true,null,"x"],"b":1}"#
        );
        assert_eq!(
            enc(json!({"k": "é😀\u{7f}\u{1}\"\\\n"})),
            r#"{"k":"\u00e9\ud83d\ude00\u007f\u0001\"\\\n"}"#
        );
        assert_eq!(
            enc(json!({"é": 1, "z": 2, "Z": 3})),
            r#"{"Z":3,"z":2,"\u00e9":1}"#
        );
        assert_eq!(enc(json!({})), "{}");
    }

    #[test]
    // The tie case below is written with its exact value on purpose.
    #[allow(clippy::excessive_precision)]
    fn floats_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (100.0, "100.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789.125, "123456789.125"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (-2.5e-7, "-2.5e-07"),
            // A tie between two shortest forms: Python (and ryu) pick the even one.
            (26835570246813.3125, "26835570246813.312"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            write_python_float(&mut s, f);
            assert_eq!(s, want, "{f:e}");
        }
    }
}
