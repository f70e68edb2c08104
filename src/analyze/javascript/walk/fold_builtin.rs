//! Folding of builtin calls: `atob`, `Buffer.from`, `String.fromCharCode`,
//! `path.join` and friends, on known values. Value operations live in
//! `javascript/value.rs`.
//!
//! What it must not do: call anything for real or exceed the value limits.

use super::Walker;
use crate::analyze::javascript::names::{basename, is_sensitive_path};
use crate::analyze::javascript::value::{self, Val, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    /// Built-in functions whose result can be computed.
    pub(super) fn fold_builtin(
        &mut self,
        node: Node<'t>,
        p: &str,
        args: &[Val<'t>],
    ) -> Option<Val<'t>> {
        let _ = node;
        let first = args.first().cloned().unwrap_or_default();
        let str0 = first.to_const_string();
        let v = match p {
            "Buffer.from" | "Buffer" | "buffer.Buffer.from" | "buffer.Buffer" => {
                let enc = args
                    .get(1)
                    .and_then(|e| e.as_str())
                    .map(|s| s.to_ascii_lowercase());
                match (&first.v, enc.as_deref()) {
                    (V::Arr(items), _) => {
                        let bytes: Option<Vec<u8>> =
                            items.iter().map(|i| i.as_num().map(|n| n as u8)).collect();
                        match bytes {
                            Some(b) => Val::str(value::bytes_to_string(&b)),
                            None => Val::unknown(),
                        }
                        .taint_from(&first)
                        .decoded("Buffer.from")
                    }
                    (V::Str(s), Some("base64") | Some("base64url")) => {
                        match value::decode_base64(s) {
                            Some(b) => Val::str(value::bytes_to_string(&b))
                                .taint_from(&first)
                                .decoded("Buffer.from"),
                            None => Val::unknown().taint_from(&first).decoded("Buffer.from"),
                        }
                    }
                    (V::Str(s), Some("hex")) => match value::decode_hex(s) {
                        Some(b) => Val::str(value::bytes_to_string(&b))
                            .taint_from(&first)
                            .decoded("Buffer.from"),
                        None => Val::unknown().taint_from(&first).decoded("Buffer.from"),
                    },
                    (
                        V::Str(_),
                        None | Some("utf8") | Some("utf-8") | Some("latin1") | Some("binary")
                        | Some("ascii"),
                    ) => first.clone(),
                    (_, Some("base64") | Some("hex") | Some("base64url")) => {
                        Val::unknown().taint_from(&first).decoded("Buffer.from")
                    }
                    _ => Val::unknown().taint_from(&first),
                }
            }
            "atob" | "window.atob" => match str0.as_deref().and_then(value::decode_base64) {
                Some(b) => Val::str(value::bytes_to_string(&b))
                    .taint_from(&first)
                    .decoded("atob"),
                None => Val::unknown().taint_from(&first).decoded("atob"),
            },
            "btoa" => match &str0 {
                Some(s) => Val::str(value::encode_base64(s.as_bytes())),
                None => Val::unknown(),
            },
            "unescape" | "decodeURIComponent" | "decodeURI" | "querystring.unescape" => match &str0
            {
                Some(s) => {
                    let d = value::percent_decode(s);
                    if d != *s {
                        Val::str(d).taint_from(&first).decoded("unescape")
                    } else {
                        first.clone()
                    }
                }
                None => Val::unknown().taint_from(&first),
            },
            "escape" | "encodeURIComponent" | "encodeURI" => match &str0 {
                Some(s) => Val::str(value::percent_encode(s)),
                None => Val::unknown(),
            },
            "String.fromCharCode" | "String.fromCodePoint" => {
                let mut out = String::new();
                for a in args {
                    match &a.v {
                        V::Arr(items) => {
                            for i in items {
                                out.push(i.as_num().and_then(|n| char::from_u32(n as u32))?);
                            }
                        }
                        _ => out.push(a.as_num().and_then(|n| char::from_u32(n as u32))?),
                    }
                }
                let mut v = Val::str(out);
                for a in args {
                    v = v.taint_from(a);
                }
                v.decoded("String.fromCharCode")
            }
            "String" => match &str0 {
                Some(s) => Val::str(s.clone()).taint_from(&first),
                None => first.clone(),
            },
            "String.raw" => first.clone(),
            "JSON.parse" => match str0.as_deref().and_then(value::json_string) {
                Some(s) => Val::str(s).taint_from(&first).obfuscated(),
                None => Val::unknown().taint_from(&first),
            },
            "JSON.stringify" => match &first.v {
                V::Str(s) => Val::str(serde_json::to_string(s).unwrap_or_default()),
                _ => Val::unknown(),
            },
            "parseInt" | "Number.parseInt" => {
                let radix = args.get(1).and_then(|r| r.as_num()).map(|r| r as u32);
                match str0.as_deref().and_then(|s| value::parse_int(s, radix)) {
                    Some(n) => Val::of(V::Num(n)).taint_from(&first),
                    None => Val::unknown(),
                }
            }
            "Number" | "parseFloat" => match first.as_num() {
                Some(n) => Val::of(V::Num(n)),
                None => Val::unknown(),
            },
            "Array.from" => match &first.v {
                V::Str(s) => Val::of(V::Arr(s.chars().map(|c| Val::str(c.to_string())).collect())),
                V::Arr(_) => first.clone(),
                _ => Val::unknown(),
            },
            "Array.of" | "Array" => Val::of(V::Arr(args.to_vec())),
            "Reflect.get" => {
                let key = args.get(1).cloned().unwrap_or_default();
                let k = key.to_const_string().map(|k| (k, key.clone()));
                let hidden_key = k.as_ref().is_some_and(|(_, kv)| kv.obf || kv.concat);
                let v = self.resolve_member(node, first.clone(), k);
                if let V::Path(mp) = &v.v {
                    if is_sensitive_path(mp) {
                        let mp = mp.clone();
                        self.signal("reflection", node, vec![format!("Reflect.get {mp}")]);
                        if hidden_key {
                            self.signal("string-obfuscation", node, vec![mp]);
                        }
                    }
                }
                v
            }
            "Reflect.apply" => {
                let rest = match args.get(2).map(|a| &a.v) {
                    Some(V::Arr(items)) => items.clone(),
                    _ => Vec::new(),
                };
                self.apply(node, first.clone(), None, None, rest, false)
            }
            "Reflect.construct" => {
                let rest = match args.get(1).map(|a| &a.v) {
                    Some(V::Arr(items)) => items.clone(),
                    _ => Vec::new(),
                };
                self.apply(node, first.clone(), None, None, rest, true)
            }
            "Object.getPrototypeOf" | "Reflect.getPrototypeOf" => match &first.v {
                V::Func(_) => Val::path("Function.prototype"),
                _ => Val::of(V::Ctor),
            },
            "util.promisify" | "util.callbackify" => first.clone(),
            "path.join" | "path.resolve" | "path.normalize" | "path.posix.join"
            | "path.posix.resolve" => {
                let mut parts = Vec::new();
                let mut t = Val::unknown();
                for a in args {
                    t = t.taint_from(a);
                    parts.push(a.to_partial_string().unwrap_or_else(|| "*".into()));
                }
                let joined = join_paths(&parts, p.ends_with("resolve"));
                let all_known = args.iter().all(|a| a.to_const_string().is_some());
                let mut v = if all_known {
                    Val::str(joined)
                } else {
                    Val::of(V::Partial(joined))
                };
                v = v.taint_from(&t);
                v
            }
            "path.basename" => match &str0 {
                Some(s) => Val::str(basename(s).to_string()),
                None => Val::unknown(),
            },
            "os.homedir" => Val::str("~"),
            "os.tmpdir" => Val::str("/tmp"),
            "os.userInfo" => Val::of(V::Obj(vec![("homedir".into(), Val::str("~"))])),
            "TextDecoder().decode" | "util.TextDecoder().decode" => first.clone(),
            _ => return None,
        };
        Some(v)
    }
}

/// Joins path segments like `path.join` (or `path.resolve`, where an
/// absolute segment restarts the path).
pub(super) fn join_paths(parts: &[String], resolve: bool) -> String {
    let mut out = String::new();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        if resolve && (p.starts_with('/') || p.starts_with('~')) {
            out.clear();
        }
        if !out.is_empty() && !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(p);
    }
    let mut s = out.replace("//", "/");
    while s.contains("/./") {
        s = s.replace("/./", "/");
    }
    s
}
