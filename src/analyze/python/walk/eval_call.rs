//! Constant folding of calls: builtins, decoders and codecs
//! (`base64`, `bytes.fromhex`, `codecs.decode`, ...) and string methods.
//!
//! What it must not do: call anything for real; every operation is
//! re-implemented on [`Val`] and bounded by the budget.

use super::{Folded, Walker};
use crate::analyze::python::ebcdic;
use crate::analyze::python::fold::{self, Val};
use rustpython_parser::ast::{self, Expr};

impl<'a> Walker<'a> {
    pub(super) fn fold_call(
        &self,
        c: &ast::ExprCall,
        d: usize,
        vars: &[(&str, Val)],
    ) -> Option<Folded> {
        // Methods on constants: 'x'.join(...), b'..'.decode(), '..'.format(...).
        if let Expr::Attribute(a) = &*c.func {
            if let Some(recv) = self.fold_in(&a.value, d, vars) {
                return self.fold_method(recv, a.attr.as_str(), c, d, vars);
            }
        }
        let sym = self.resolve_in(&c.func, d)?;
        let q = sym.qual.as_str();
        let arg = |i: usize| c.args.get(i).and_then(|a| self.fold_in(a, d, vars));
        let text = |i: usize| arg(i).and_then(|f| f.val.text().map(str::to_string));
        let bytes_of = |f: &Folded| f.val.bytes().map(<[u8]>::to_vec);
        let decoded = |f: Folded, out: Vec<u8>, step: &str| {
            let mut r = f;
            r.steps.insert(0, step.to_string());
            r.val = Val::Bytes(out);
            Some(r)
        };
        let r = match q {
            "chr" => match arg(0)? {
                Folded {
                    val: Val::Int(i), ..
                } => Folded {
                    val: Val::Str(char::from_u32(u32::try_from(i).ok()?)?.to_string()),
                    steps: Vec::new(),
                    assembled: false,
                    obfuscated: true,
                },
                _ => return None,
            },
            "ord" => {
                let f = arg(0)?;
                let mut chars = f.val.text()?.chars();
                let ch = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                Folded {
                    val: Val::Int(i64::from(u32::from(ch))),
                    ..f
                }
            }
            "str" => {
                let f = arg(0)?;
                match (&f.val, c.args.len()) {
                    (Val::Bytes(b), n) if n >= 2 => Folded {
                        val: Val::Str(String::from_utf8(b.clone()).ok()?),
                        ..f
                    },
                    (v, 1) => Folded {
                        val: Val::Str(v.display()?),
                        ..f
                    },
                    _ => return None,
                }
            }
            "bytes" | "bytearray" => {
                let f = arg(0)?;
                let val = match &f.val {
                    Val::Str(s) if c.args.len() >= 2 => Val::Bytes(s.as_bytes().to_vec()),
                    Val::Bytes(b) => Val::Bytes(b.clone()),
                    Val::Seq(items) => Val::Bytes(
                        items
                            .iter()
                            .map(|i| match i {
                                Val::Int(n) => u8::try_from(*n).ok(),
                                _ => None,
                            })
                            .collect::<Option<Vec<u8>>>()?,
                    ),
                    _ => return None,
                };
                Folded {
                    val,
                    obfuscated: f.obfuscated || matches!(f.val, Val::Seq(_)),
                    ..f
                }
            }
            "int" => {
                let f = arg(0)?;
                let base = match arg(1) {
                    Some(Folded {
                        val: Val::Int(b), ..
                    }) => u32::try_from(b).ok()?,
                    None => 10,
                    _ => return None,
                };
                match &f.val {
                    Val::Str(s) => {
                        let t = s.trim();
                        let t = if base == 16 {
                            t.trim_start_matches("0x")
                        } else if base == 8 {
                            t.trim_start_matches("0o")
                        } else {
                            t
                        };
                        Folded {
                            val: Val::Int(i64::from_str_radix(t, base).ok()?),
                            ..f
                        }
                    }
                    Val::Int(i) => Folded {
                        val: Val::Int(*i),
                        ..f
                    },
                    _ => return None,
                }
            }
            "reversed" => {
                let f = arg(0)?;
                let mut items = f.val.iter_items()?;
                items.reverse();
                Folded {
                    val: Val::Seq(items),
                    obfuscated: true,
                    ..f
                }
            }
            "list" | "tuple" => {
                let f = arg(0)?;
                Folded {
                    val: Val::Seq(f.val.iter_items()?),
                    ..f
                }
            }
            "map" => {
                let src = arg(1)?;
                let items = src.val.iter_items()?;
                let mut out = Folded {
                    val: Val::None,
                    obfuscated: true,
                    ..src.clone()
                };
                let mut vals = Vec::with_capacity(items.len());
                match c.args.first()? {
                    Expr::Lambda(l) => {
                        let [p] = l.args.args.as_slice() else {
                            return None;
                        };
                        for item in items {
                            let scope = [vars, &[(p.def.arg.as_str(), item)]].concat();
                            let f = self.fold_in(&l.body, d, &scope)?;
                            out.absorb(&f);
                            vals.push(f.val);
                        }
                    }
                    func => {
                        let fname = self.resolve_in(func, d)?.qual;
                        for item in items {
                            vals.push(match (fname.as_str(), item) {
                                ("chr", Val::Int(i)) => {
                                    Val::Str(char::from_u32(u32::try_from(i).ok()?)?.to_string())
                                }
                                ("str", v) => Val::Str(v.display()?),
                                ("int", Val::Str(s)) => Val::Int(s.trim().parse().ok()?),
                                ("ord", Val::Str(s)) => {
                                    Val::Int(i64::from(u32::from(s.chars().next()?)))
                                }
                                _ => return None,
                            });
                        }
                    }
                }
                out.val = Val::Seq(vals);
                out
            }
            "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.decodebytes"
            | "base64.decodestring"
            | "binascii.a2b_base64" => {
                let f = arg(0)?;
                let out = fold::b64decode(&bytes_of(&f)?, false)?;
                decoded(f, out, q)?
            }
            "base64.urlsafe_b64decode" => {
                let f = arg(0)?;
                let out = fold::b64decode(&bytes_of(&f)?, true)?;
                decoded(f, out, q)?
            }
            "base64.b32decode" => {
                let f = arg(0)?;
                let out = fold::b32decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.b16decode" | "binascii.unhexlify" | "binascii.a2b_hex" | "bytes.fromhex"
            | "bytearray.fromhex" => {
                let f = arg(0)?;
                let out = fold::hexdecode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.a85decode" => {
                let f = arg(0)?;
                let out = fold::a85decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "base64.b85decode" => {
                let f = arg(0)?;
                let out = fold::b85decode(&bytes_of(&f)?)?;
                decoded(f, out, q)?
            }
            "codecs.decode" | "codecs.encode" => {
                let f = arg(0)?;
                let codec = text(1).unwrap_or_else(|| "utf-8".into());
                self.codec(f, &codec, q == "codecs.decode")?
            }
            "os.path.join"
            | "posixpath.join"
            | "pathlib.Path"
            | "pathlib.PosixPath"
            | "pathlib.PurePath"
            | "pathlib.PurePosixPath" => {
                let mut out = Folded::plain(Val::None);
                let mut parts = Vec::new();
                for a in &c.args {
                    let f = self.fold_in(a, d, vars)?;
                    parts.push(f.val.text()?.to_string());
                    out.absorb(&f);
                }
                out.val = Val::Str(fold::path_join(&parts));
                out
            }
            "os.path.expanduser" | "os.path.expandvars" | "os.path.abspath"
            | "os.path.normpath" | "os.path.realpath" | "os.fsencode" | "os.fsdecode" => arg(0)?,
            "pathlib.Path.home" | "pathlib.Path.home.__str__" => {
                Folded::plain(Val::Str("~".into()))
            }
            "os.getenv" | "os.environ.get" => match text(0)?.as_str() {
                "HOME" => Folded::plain(Val::Str("~".into())),
                _ => return None,
            },
            _ => return None,
        };
        self.checked(r)
    }

    pub(super) fn codec(&self, f: Folded, codec: &str, decode: bool) -> Option<Folded> {
        let codec = codec.to_ascii_lowercase().replace('-', "_");
        let mut r = f;
        match codec.as_str() {
            "rot13" | "rot_13" => {
                let t = r.val.text()?.to_string();
                r.val = Val::Str(fold::rot13(&t));
                r.steps.insert(0, "codecs.rot13".into());
            }
            "hex" | "hex_codec" if decode => {
                r.val = Val::Bytes(fold::hexdecode(r.val.bytes()?)?);
                r.steps.insert(0, "codecs.hex".into());
            }
            "base64" | "base64_codec" | "base_64" if decode => {
                r.val = Val::Bytes(fold::b64decode(r.val.bytes()?, false)?);
                r.steps.insert(0, "codecs.base64".into());
            }
            "utf_8" | "utf8" | "ascii" | "latin_1" | "latin1" | "u8" => {
                r.val = if decode {
                    Val::Str(String::from_utf8(r.val.bytes()?.to_vec()).ok()?)
                } else {
                    Val::Bytes(r.val.bytes()?.to_vec())
                };
            }
            // EBCDIC pages hide text from every scanner that reads ASCII: decoding
            // through one is obfuscation, and the step makes exec of it decode-then-exec.
            page if decode && ebcdic::is_ebcdic(page) => {
                r.val = Val::Str(ebcdic::decode(page, r.val.bytes()?)?);
                r.steps.insert(0, format!("codecs.{page}"));
                r.obfuscated = true;
            }
            _ => return None,
        }
        Some(r)
    }

    pub(super) fn fold_method(
        &self,
        recv: Folded,
        method: &str,
        c: &ast::ExprCall,
        d: usize,
        vars: &[(&str, Val)],
    ) -> Option<Folded> {
        let arg = |i: usize| c.args.get(i).and_then(|a| self.fold_in(a, d, vars));
        let mut out = recv.clone();
        let val = match (method, &recv.val) {
            ("join", Val::Str(_) | Val::Bytes(_)) if c.args.len() == 1 => {
                let f = arg(0)?;
                out.absorb(&f);
                out.assembled = true;
                let items = f.val.iter_items()?;
                match &recv.val {
                    Val::Bytes(sepb) => {
                        let parts: Vec<&[u8]> =
                            items.iter().map(Val::bytes).collect::<Option<_>>()?;
                        Val::Bytes(parts.join(sepb.as_slice()))
                    }
                    _ => {
                        let parts: Vec<&str> = items
                            .iter()
                            .map(|i| match i {
                                Val::Str(s) => Some(s.as_str()),
                                _ => None,
                            })
                            .collect::<Option<_>>()?;
                        Val::Str(parts.join(recv.val.text().unwrap_or_default()))
                    }
                }
            }
            ("format", Val::Str(fmt)) => {
                let mut args = Vec::new();
                for a in &c.args {
                    let f = self.fold_in(a, d, vars)?;
                    out.absorb(&f);
                    args.push(f.val);
                }
                let mut kwargs = Vec::new();
                for k in &c.keywords {
                    let f = self.fold_in(&k.value, d, vars)?;
                    out.absorb(&f);
                    kwargs.push((k.arg.as_ref()?.to_string(), f.val));
                }
                out.assembled = true;
                Val::Str(fold::brace_format(fmt, &args, &kwargs, self.limit())?)
            }
            ("decode", Val::Bytes(_)) | ("encode", Val::Str(_)) => {
                let codec = arg(0)
                    .and_then(|f| f.val.text().map(str::to_string))
                    .unwrap_or_else(|| "utf-8".into());
                return self.codec(recv, &codec, method == "decode");
            }
            ("replace", Val::Str(s)) => {
                let (a, b) = (arg(0)?, arg(1)?);
                out.obfuscated = true;
                let (from, to) = (a.val.text()?, b.val.text()?);
                if replaced_len(s, from, to) > self.limit() {
                    return None;
                }
                Val::Str(s.replace(from, to))
            }
            ("replace", Val::Bytes(bs)) => {
                let (a, b) = (arg(0)?, arg(1)?);
                out.obfuscated = true;
                let s = String::from_utf8(bs.clone()).ok()?;
                let (from, to) = (a.val.text()?, b.val.text()?);
                if replaced_len(&s, from, to) > self.limit() {
                    return None;
                }
                Val::Bytes(s.replace(from, to).into_bytes())
            }
            ("upper", Val::Str(s)) => Val::Str(s.to_uppercase()),
            ("lower", Val::Str(s)) => Val::Str(s.to_lowercase()),
            ("swapcase", Val::Str(s)) => {
                out.obfuscated = true;
                Val::Str(
                    s.chars()
                        .map(|ch| {
                            if ch.is_uppercase() {
                                ch.to_lowercase().next().unwrap_or(ch)
                            } else {
                                ch.to_uppercase().next().unwrap_or(ch)
                            }
                        })
                        .collect(),
                )
            }
            ("strip", Val::Str(s)) => Val::Str(s.trim().to_string()),
            ("lstrip", Val::Str(s)) => Val::Str(s.trim_start().to_string()),
            ("rstrip", Val::Str(s)) => Val::Str(s.trim_end().to_string()),
            ("split", Val::Str(s)) => match arg(0) {
                Some(sep) => Val::Seq(
                    s.split(sep.val.text()?)
                        .map(|p| Val::Str(p.to_string()))
                        .collect(),
                ),
                None => Val::Seq(
                    s.split_whitespace()
                        .map(|p| Val::Str(p.to_string()))
                        .collect(),
                ),
            },
            ("hex", Val::Bytes(b)) => Val::Str(hex::encode(b)),
            _ => return None,
        };
        out.val = val;
        self.checked(out)
    }
}

/// The length of `s.replace(from, to)`, found without building it: a value
/// replaced into itself (`b = a.replace('x', a)`) squares its length, and
/// building that before looking at the cap once took gigabytes.
fn replaced_len(s: &str, from: &str, to: &str) -> usize {
    let hits = if from.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(from).count()
    };
    s.len()
        .saturating_sub(hits.saturating_mul(from.len()))
        .saturating_add(hits.saturating_mul(to.len()))
}
