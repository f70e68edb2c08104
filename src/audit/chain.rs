//! The hash chain: the canonical form of an event, its hash, and the pure
//! verification walk. This module owns the definition an outside tool must
//! reproduce; it does no I/O and knows nothing about databases.
//!
//! # Canonical form (version 1)
//!
//! Every row of `audit_events` carries `seq`, `execution_id`, `at`, `kind`,
//! `payload`, `prev_hash` and `hash`. The hash of an event is
//!
//! ```text
//! hash = hex( SHA-256( bytes.fromhex(prev_hash) || canonical(event) ) )
//! ```
//!
//! where `prev_hash` is the `hash` of the event with the previous `seq` (64
//! zero hex digits for the first event, seq 1), `hex` is lowercase, and
//! `canonical(event)` is the UTF-8 encoding of the JSON object
//!
//! ```text
//! {"at":AT,"execution_id":ID,"kind":KIND,"payload":PAYLOAD,"seq":SEQ}
//! ```
//!
//! written in *canonical JSON*:
//! - object keys sorted by Unicode code point, at every depth; no whitespace
//!   anywhere (separators `,` and `:`);
//! - strings: UTF-8, not ASCII-escaped; `"` and `\` escaped with a backslash,
//!   `\b \f \n \r \t` in their short form, other control characters below
//!   U+0020 as `\u00xx` (lowercase hex); nothing else escaped;
//! - integers in plain decimal; other numbers in the shortest form that
//!   reads back to the same double, written as Python's `repr(float)` does:
//!   positional with at least one digit after the point (`12.5`, `3.0`) when
//!   the decimal exponent is in [-4, 16), otherwise `d.ddde+XX` / `d.ddde-XX`
//!   with at least two exponent digits (`1e+16`, `1e-05`);
//! - `true`, `false`, `null` as themselves.
//!
//! This is exactly what Python's `json.dumps(obj, sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)` produces, so a reviewer can
//! re-verify an export with the standard library alone:
//!
//! ```python
//! import hashlib, json
//! prev = "0" * 64
//! for line in open("audit.jsonl"):
//!     e = json.loads(line)
//!     body = {k: e[k] for k in ("at", "execution_id", "kind", "payload", "seq")}
//!     canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//!     assert e["prev_hash"] == prev
//!     prev = hashlib.sha256(bytes.fromhex(prev) + canon.encode()).hexdigest()
//!     assert e["hash"] == prev, e["seq"]
//! ```
//!
//! Field values: `seq` is the integer position (1, 2, 3, ... without gaps);
//! `execution_id` is the lowercase hyphenated UUID, or `null` for events that
//! belong to no execution (checkpoints); `at` is the UTC time as
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fractional digits); `kind` is one
//! of the snake_case [`EventKind`](super::EventKind) names; `payload` is a
//! JSON value (an object in practice).
//!
//! The database stores `payload` as its canonical JSON text, so the stored
//! text *is* the hashed text; verification concatenates stored strings and
//! never re-serialises, which keeps `verify` fast and immune to JSON library
//! differences.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The `prev_hash` of the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON text of a value (see the module docs).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map may preserve insertion order (feature unification can
            // turn `preserve_order` on), so sort explicitly; byte order of UTF-8
            // equals code point order, which is what Python's sort_keys uses.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_float_like_python(f, out);
    } else {
        // Arbitrary-precision numbers are not enabled; fall back to serde's text.
        out.push_str(&n.to_string());
    }
}

/// Formats a finite double the way Python's `repr(float)` does.
fn write_float_like_python(f: f64, out: &mut String) {
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5", "-0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if negative {
        out.push('-');
    }
    // Python: positional when -4 <= exp < 16, scientific otherwise.
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..(-point) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
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
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
    }
}

/// The canonical serialisation of one event. `payload_canonical` must already be
/// canonical JSON text (as stored in the database).
pub fn canonical_event(
    seq: i64,
    execution_id: Option<&str>,
    at: &str,
    kind: &str,
    payload_canonical: &str,
) -> String {
    let mut out = String::with_capacity(96 + payload_canonical.len());
    out.push_str("{\"at\":");
    write_string(at, &mut out);
    out.push_str(",\"execution_id\":");
    match execution_id {
        Some(id) => write_string(id, &mut out),
        None => out.push_str("null"),
    }
    out.push_str(",\"kind\":");
    write_string(kind, &mut out);
    out.push_str(",\"payload\":");
    out.push_str(payload_canonical);
    let _ = write!(out, ",\"seq\":{seq}}}");
    out
}

/// `hex(SHA-256(prev_hash_bytes || canonical))`. A `prev_hash` that is not 64
/// hex digits hashes as its raw text, so a corrupted value still yields a
/// (mismatching) hash instead of an error.
pub fn event_hash(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    match hex::decode(prev_hash) {
        Ok(bytes) if bytes.len() == 32 => hasher.update(&bytes),
        _ => hasher.update(prev_hash.as_bytes()),
    }
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

/// One stored event as read back for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRow {
    pub seq: i64,
    pub execution_id: Option<String>,
    pub at: String,
    pub kind: String,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainRow {
    /// The hash this row should carry given its own `prev_hash`.
    pub fn recompute(&self) -> String {
        let canonical = canonical_event(
            self.seq,
            self.execution_id.as_deref(),
            &self.at,
            &self.kind,
            &self.payload,
        );
        event_hash(&self.prev_hash, &canonical)
    }
}

/// What is wrong at the first broken place of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// A seq is missing (a row was deleted) or rows are out of order.
    Gap { expected_seq: i64, found_seq: i64 },
    /// The row's `prev_hash` is not the previous row's `hash` (a row was
    /// removed, reordered or its link edited).
    Link {
        seq: i64,
        expected_prev: String,
        found_prev: String,
    },
    /// The row's content does not hash to its stored `hash` (a field was edited).
    Content {
        seq: i64,
        stored: String,
        recomputed: String,
    },
    /// The payload is not canonical JSON (edited without re-canonicalising).
    Payload { seq: i64, message: String },
    /// The chain head row disagrees with the last event (the tail was cut off).
    Head {
        head_seq: i64,
        head_hash: String,
        last_seq: i64,
        last_hash: String,
    },
}

impl Break {
    /// The seq the break is reported at.
    pub fn seq(&self) -> i64 {
        match self {
            Break::Gap { expected_seq, .. } => *expected_seq,
            Break::Link { seq, .. } | Break::Content { seq, .. } | Break::Payload { seq, .. } => {
                *seq
            }
            Break::Head { last_seq, .. } => last_seq + 1,
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Gap { expected_seq, found_seq } => write!(
                f,
                "seq {expected_seq}: missing (next stored event is seq {found_seq}; a row was deleted or reordered)"
            ),
            Break::Link { seq, expected_prev, found_prev } => write!(
                f,
                "seq {seq}: prev_hash {found_prev} does not match the hash of seq {} ({expected_prev})",
                seq - 1
            ),
            Break::Content { seq, stored, recomputed } => write!(
                f,
                "seq {seq}: content does not match its hash (stored {stored}, recomputed {recomputed}); a field of this row was changed"
            ),
            Break::Payload { seq, message } => write!(f, "seq {seq}: payload is not canonical JSON: {message}"),
            Break::Head { head_seq, head_hash, last_seq, last_hash } => write!(
                f,
                "chain head says seq {head_seq} ({head_hash}) but the last event is seq {last_seq} ({last_hash}); events were removed from the end"
            ),
        }
    }
}

/// Incremental verifier: feed rows in seq order, get the first break.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    checked: u64,
    check_payloads: bool,
}

impl Verifier {
    /// Starts at `first_seq` trusting `prev_hash` as the hash before it.
    pub fn new(first_seq: i64, prev_hash: String) -> Self {
        Verifier {
            expected_seq: first_seq,
            prev_hash,
            checked: 0,
            check_payloads: false,
        }
    }

    /// Also require each payload to be canonical JSON (slower: parses each payload).
    pub fn with_payload_check(mut self, on: bool) -> Self {
        self.check_payloads = on;
        self
    }

    pub fn checked(&self) -> u64 {
        self.checked
    }

    pub fn last_hash(&self) -> &str {
        &self.prev_hash
    }

    pub fn next_seq(&self) -> i64 {
        self.expected_seq
    }

    pub fn push(&mut self, row: &ChainRow) -> Result<(), Break> {
        if row.seq != self.expected_seq {
            return Err(Break::Gap {
                expected_seq: self.expected_seq,
                found_seq: row.seq,
            });
        }
        if row.prev_hash != self.prev_hash {
            return Err(Break::Link {
                seq: row.seq,
                expected_prev: self.prev_hash.clone(),
                found_prev: row.prev_hash.clone(),
            });
        }
        let recomputed = row.recompute();
        if recomputed != row.hash {
            return Err(Break::Content {
                seq: row.seq,
                stored: row.hash.clone(),
                recomputed,
            });
        }
        if self.check_payloads {
            match serde_json::from_str::<Value>(&row.payload) {
                Ok(v) if canonical_json(&v) == row.payload => {}
                Ok(_) => {
                    return Err(Break::Payload {
                        seq: row.seq,
                        message: "not in canonical form".into(),
                    })
                }
                Err(e) => {
                    return Err(Break::Payload {
                        seq: row.seq,
                        message: e.to_string(),
                    })
                }
            }
        }
        self.prev_hash.clone_from(&row.hash);
        self.expected_seq += 1;
        self.checked += 1;
        Ok(())
    }
}

/// HMAC-SHA256 (RFC 2104), used to sign checkpoint events with a key derived
/// from the audit key. Written out because it is twelve lines over `sha2`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_and_compacts() {
        let v = json!({"b": 1, "a": [true, null, "x\ny\u{1}\"é"], "c": {"z": 1, "y": 2}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":[true,null,"x\ny\u0001\"é"],"b":1,"c":{"y":2,"z":1}}"#
        );
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (12.5, "12.5"),
            (3.0, "3.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (123456.789, "123456.789"),
        ];
        for (f, want) in cases {
            assert_eq!(canonical_json(&json!(f)), want, "{f}");
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifier_detects_edit_and_gap() {
        let mut rows = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for seq in 1..=3 {
            let payload = canonical_json(&json!({"n": seq}));
            let canonical = canonical_event(
                seq,
                None,
                "2024-01-01T00:00:00.000000Z",
                "checkpoint",
                &payload,
            );
            let hash = event_hash(&prev, &canonical);
            rows.push(ChainRow {
                seq,
                execution_id: None,
                at: "2024-01-01T00:00:00.000000Z".into(),
                kind: "checkpoint".into(),
                payload,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        let mut v = Verifier::new(1, GENESIS_HASH.into());
        for r in &rows {
            assert!(v.push(r).is_ok());
        }
        let mut edited = rows.clone();
        edited[1].kind = "finished".into();
        let mut v = Verifier::new(1, GENESIS_HASH.into());
        assert!(v.push(&edited[0]).is_ok());
        assert!(matches!(
            v.push(&edited[1]),
            Err(Break::Content { seq: 2, .. })
        ));
        let mut v = Verifier::new(1, GENESIS_HASH.into());
        assert!(v.push(&rows[0]).is_ok());
        assert!(matches!(
            v.push(&rows[2]),
            Err(Break::Gap {
                expected_seq: 2,
                found_seq: 3
            })
        ));
    }
}
