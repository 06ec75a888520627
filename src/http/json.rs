//! The JSON body of a GraphQL answer, written straight from async-graphql's
//! values. The bytes are the ones serde_json writes for the same response
//! (a test compares them), for fewer instructions: serde's generic
//! serialiser was a quarter of the server's work on a page of 50 pupils
//! (BENCHMARKS.md, issue 23), most of it in the machinery around each value
//! rather than in the bytes.

use async_graphql::{Response, Value};

/// `{"data":…,"extensions":…,"errors":[…]}`, the last two only when not
/// empty, as async-graphql's own `Serialize` gives them.
pub fn to_vec(response: &Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"data\":");
    value(&mut out, &response.data);
    // Rare and small: serde_json writes these.
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut out, &response.extensions).expect("a Vec takes every write");
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut out, &response.errors).expect("a Vec takes every write");
    }
    out.push(b'}');
    out
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(s) => string(out, s),
        Value::Enum(name) => string(out, name),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, name);
                out.push(b':');
                value(out, item);
            }
            out.push(b'}');
        }
        // Numbers (integers by itoa, floats by ryu) and bytes as serde_json writes them.
        Value::Number(_) | Value::Binary(_) => serde_json::to_writer(&mut *out, v).expect("a Vec takes every write"),
    }
}

/// A JSON string, escaped as serde_json escapes: the quote, the backslash
/// and control characters; everything else, UTF-8 included, as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[from..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{Name, ServerError};

    /// Dice of their own, so the values are the same on every run.
    struct Dice(u64);

    impl Dice {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    const PIECES: &[&str] = &[
        "a", "Rossi", "D'Amico", "\"", "\\", "\n", "\t", "\r", "\u{8}", "\u{c}", "\u{1}", "\u{1f}", "\u{7f}", "è", "ß",
        "🙂", " ", "/", "<",
    ];

    fn text(d: &mut Dice) -> String {
        (0..d.next(6)).map(|_| PIECES[d.next(PIECES.len() as u64) as usize]).collect()
    }

    fn random(d: &mut Dice, depth: u32) -> Value {
        match d.next(if depth > 3 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Boolean(d.next(2) == 1),
            2 => Value::from(d.next(1 << 40) as i64 - (1 << 39)),
            3 => Value::from(d.next(1_000_000) as f64 / 7.0 - 1000.0),
            4 => Value::String(text(d)),
            5 => Value::Enum(Name::new(["C1", "C3", "IN_CHARGE"][d.next(3) as usize])),
            6 => Value::List((0..d.next(4)).map(|_| random(d, depth + 1)).collect()),
            _ => Value::Object(
                (0..d.next(5))
                    .map(|i| {
                        (Name::new(format!("f{i}{}", ["", "_x", "Name"][d.next(3) as usize])), random(d, depth + 1))
                    })
                    .collect::<IndexMap<_, _>>(),
            ),
        }
    }

    #[test]
    fn the_bytes_are_serde_jsons() {
        let mut d = Dice(23);
        for _ in 0..2000 {
            let mut response = Response::new(random(&mut d, 0));
            if d.next(4) == 0 {
                response.errors.push(ServerError::new(text(&mut d), None));
            }
            if d.next(8) == 0 {
                response.extensions.insert("cost".into(), random(&mut d, 2));
            }
            let ours = to_vec(&response);
            let theirs = serde_json::to_vec(&response).unwrap();
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }
}
