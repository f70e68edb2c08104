//! Name resolution: expressions to qualified names through imports,
//! aliases, `getattr`, `sys.modules` and builtins, and where a value's data
//! came from (taint).
//!
//! What it must not do: emit facts; it only answers questions.

use super::{Binding, Kind, Sym, Walker, FOLD_DEPTH};
use crate::analyze::python::tables::{self, Taint};
use rustpython_parser::ast::{self, Expr};

impl<'a> Walker<'a> {
    pub(super) fn resolve(&self, e: &Expr) -> Option<Sym> {
        self.resolve_in(e, 0)
    }

    pub(super) fn resolve_in(&self, e: &Expr, d: usize) -> Option<Sym> {
        if d > FOLD_DEPTH {
            return None;
        }
        match e {
            Expr::Name(n) => self.resolve_name(n.id.as_str()),
            Expr::Attribute(a) => {
                let base = self.resolve_in(&a.value, d + 1)?;
                let kind = if base.kind == Kind::Instance {
                    Kind::Instance
                } else {
                    Kind::Member
                };
                let qual = normalize(&format!("{}.{}", base.qual, a.attr));
                Some(Sym {
                    qual,
                    kind,
                    args: base.args,
                    taint: base.taint,
                })
            }
            Expr::Call(c) => self.resolve_call(c, d),
            Expr::Subscript(s) => {
                let base = self.resolve_in(&s.value, d + 1)?;
                let key = self
                    .fold_in(&s.slice, d + 1, &[])
                    .and_then(|f| f.val.text().map(str::to_string));
                match (base.qual.as_str(), key) {
                    ("sys.modules", Some(k)) => Some(module_sym(&k)),
                    ("<globals>", Some(k)) => {
                        self.frames.first().and_then(|f| match f.vars.get(&k) {
                            Some(Binding::Sym(s)) => Some(s.clone()),
                            Some(_) => None,
                            None => self.resolve_name(&k),
                        })
                    }
                    ("builtins", Some(k)) => Some(member(&k)),
                    (q, Some(k)) if q.ends_with(".__dict__") => Some(member(&normalize(&format!(
                        "{}.{k}",
                        q.trim_end_matches(".__dict__")
                    )))),
                    _ if base.kind == Kind::Instance && base.taint.is_some() => Some(Sym {
                        qual: format!("{}[]", base.qual),
                        ..base
                    }),
                    _ => None,
                }
            }
            Expr::NamedExpr(n) => self.resolve_in(&n.value, d + 1),
            Expr::BinOp(b) if b.op == ast::Operator::Div => {
                let base = self.resolve_in(&b.left, d + 1)?;
                if base.kind != Kind::Instance || !base.qual.starts_with("pathlib.") {
                    return None;
                }
                let path = self
                    .fold_in(e, d + 1, &[])
                    .and_then(|f| f.val.text().map(str::to_string));
                Some(Sym {
                    args: path.into_iter().collect(),
                    ..base
                })
            }
            _ => None,
        }
    }

    pub(super) fn resolve_name(&self, name: &str) -> Option<Sym> {
        match self.lookup(name) {
            Some(Binding::Sym(s)) => return Some(s.clone()),
            Some(_) => return None,
            None => {}
        }
        if name == "__builtins__" {
            return Some(module_sym("builtins"));
        }
        if tables::is_builtin(name) {
            return Some(member(name));
        }
        // Fragments: a well-known module used without its import line.
        if tables::implicit_module(name) {
            return Some(module_sym(name));
        }
        if self.stars.is_empty() {
            if let Some(q) = tables::implicit_member(name) {
                return Some(member(q));
            }
        }
        let star = match self.stars.as_slice() {
            [] => None,
            [only] => Some(only.clone()),
            many => many
                .iter()
                .rev()
                .find(|m| tables::star_exports(m).contains(&name))
                .cloned(),
        }?;
        Some(member(&format!("{star}.{name}")))
    }

    pub(super) fn resolve_call(&self, c: &ast::ExprCall, d: usize) -> Option<Sym> {
        let f = self.resolve_in(&c.func, d + 1)?;
        let q = f.qual.as_str();
        let text_arg = |i: usize| {
            c.args
                .get(i)
                .and_then(|a| self.fold_in(a, d + 1, &[]))
                .and_then(|f| f.val.text().map(str::to_string))
        };
        match q {
            "__import__" => {
                let name = text_arg(0)?;
                let fromlist = c.args.get(3).is_some() || Self::kwarg(c, "fromlist").is_some();
                let top = if fromlist {
                    name
                } else {
                    name.split('.').next().unwrap_or(&name).to_string()
                };
                Some(module_sym(&top))
            }
            "importlib.import_module" | "importlib.__import__" => Some(module_sym(&text_arg(0)?)),
            "getattr" => {
                let base = self.resolve_in(c.args.first()?, d + 1)?;
                let name = text_arg(1)?;
                let kind = if base.kind == Kind::Instance {
                    Kind::Instance
                } else {
                    Kind::Member
                };
                Some(Sym {
                    qual: normalize(&format!("{}.{name}", base.qual)),
                    kind,
                    ..base
                })
            }
            "globals" | "locals" if c.args.is_empty() => Some(module_sym("<globals>")),
            "vars" => {
                let base = self.resolve_in(c.args.first()?, d + 1)?;
                Some(Sym {
                    qual: format!("{}.__dict__", base.qual),
                    kind: Kind::Member,
                    ..base
                })
            }
            _ => {
                let mut taint = f
                    .taint
                    .or_else(|| tables::network_source(q))
                    .or_else(|| self.secret_call(q, c, d));
                if taint.is_none() && tables::is_decoder(q) {
                    taint = c
                        .args
                        .first()
                        .and_then(|a| self.taint_of(a, d + 1))
                        .or(Some(Taint::Decoded));
                }
                let args = if f.kind == Kind::Instance {
                    f.args.clone()
                } else {
                    c.args
                        .iter()
                        .take(4)
                        .filter_map(|a| self.fold_in(a, d + 1, &[]))
                        .filter_map(|f| f.val.text().map(str::to_string))
                        .collect()
                };
                Some(Sym {
                    qual: f.qual.clone(),
                    kind: Kind::Instance,
                    args,
                    taint,
                })
            }
        }
    }

    /// Where the data in `e` came from, if from the network, a socket or an unrecoverable decoder.
    pub(super) fn taint_of(&self, e: &Expr, d: usize) -> Option<Taint> {
        if d > FOLD_DEPTH {
            return None;
        }
        if let Expr::Name(n) = e {
            return match self.lookup(n.id.as_str()) {
                Some(Binding::Sym(s)) => s.taint.or_else(|| is_environ_sym(s)),
                Some(Binding::Taint(t)) => Some(*t),
                _ => None,
            };
        }
        if let Some(s) = self.resolve_in(e, d + 1) {
            if s.taint.is_some() {
                return s.taint;
            }
            if let Some(t) = is_environ_sym(&s) {
                return Some(t);
            }
        }
        // os.environ["AWS_SECRET_ACCESS_KEY"]
        if let Expr::Subscript(sub) = e {
            let environ = self
                .resolve_in(&sub.value, d + 1)
                .is_some_and(|s| s.qual == "os.environ" || s.qual == "os.environb");
            let key = self
                .fold_in(&sub.slice, d + 1, &[])
                .and_then(|f| f.val.text().map(str::to_string));
            if environ && key.is_some_and(|k| tables::is_secret_env(&k)) {
                return Some(Taint::Secret);
            }
        }
        let kids: Vec<&Expr> = match e {
            Expr::Call(c) => std::iter::once(&*c.func)
                .chain(c.args.iter())
                .chain(c.keywords.iter().map(|k| &k.value))
                .collect(),
            Expr::Dict(dict) => dict.values.iter().collect(),
            Expr::Attribute(a) => vec![&a.value],
            Expr::Subscript(s) => vec![&s.value],
            Expr::BinOp(b) => vec![&b.left, &b.right],
            Expr::JoinedStr(j) => j.values.iter().collect(),
            Expr::FormattedValue(f) => vec![&f.value],
            Expr::List(l) => l.elts.iter().collect(),
            Expr::Tuple(t) => t.elts.iter().collect(),
            Expr::Await(a) => vec![&a.value],
            _ => Vec::new(),
        };
        kids.into_iter().find_map(|k| self.taint_of(k, d + 1))
    }
}

impl Walker<'_> {
    /// A call whose result is a secret: `os.getenv("GITHUB_TOKEN")`,
    /// `open("~/.aws/credentials")`, `Path("~/.ssh/id_rsa").read_text()`.
    fn secret_call(&self, q: &str, c: &ast::ExprCall, d: usize) -> Option<Taint> {
        let text_arg = |i: usize| {
            c.args
                .get(i)
                .and_then(|a| self.fold_in(a, d + 1, &[]))
                .and_then(|f| f.val.text().map(str::to_string))
        };
        match q {
            "os.getenv" | "os.getenvb" | "os.environ.get" | "os.environ.pop"
            | "os.environb.get" => text_arg(0)
                .filter(|k| tables::is_secret_env(k))
                .map(|_| Taint::Secret),
            "os.environ.copy" | "os.environ.items" | "os.environ.values" => Some(Taint::Secret),
            // Containers and serializers keep the secret they wrap.
            "dict"
            | "list"
            | "tuple"
            | "set"
            | "str"
            | "bytes"
            | "repr"
            | "json.dumps"
            | "urllib.parse.urlencode"
            | "base64.b64encode"
            | "base64.b32encode"
            | "base64.b16encode"
            | "binascii.hexlify"
                // Shallow only: each level asks its arguments again, so deep
                // nesting (str(str(str(...)))) would cost twice per level.
                if d < 8 =>
            {
                c.args
                    .iter()
                    .chain(c.keywords.iter().map(|k| &k.value))
                    .find_map(|a| self.taint_of(a, d + 1))
                    .filter(|t| *t == Taint::Secret)
            }
            "open" | "io.open" | "codecs.open" => text_arg(0)
                .filter(|p| tables::is_sensitive_path(p))
                .map(|_| Taint::Secret),
            _ => None,
        }
    }
}

/// The whole environment is a secret when it leaves the machine.
fn is_environ_sym(s: &Sym) -> Option<Taint> {
    (s.qual == "os.environ" || s.qual == "os.environb").then_some(Taint::Secret)
}

pub(super) fn module(name: &str) -> Binding {
    Binding::Sym(module_sym(name))
}

pub(super) fn module_sym(name: &str) -> Sym {
    Sym {
        qual: name.to_string(),
        kind: Kind::Module,
        args: Vec::new(),
        taint: None,
    }
}

pub(super) fn member(qual: &str) -> Sym {
    Sym {
        qual: qual.to_string(),
        kind: Kind::Member,
        args: Vec::new(),
        taint: None,
    }
}

/// Canonical spelling of a qualified name: builtins reached through the
/// `builtins` module are their bare name; `sys.modules['x']` is `x`.
pub(super) fn normalize(q: &str) -> String {
    if let Some(rest) = q.strip_prefix("builtins.") {
        if !rest.contains('.') && rest != "__dict__" {
            return rest.to_string();
        }
    }
    if let Some(rest) = q.strip_prefix("sys.modules.") {
        return rest.to_string();
    }
    q.to_string()
}
