//! Call dispatch: every call is resolved to a qualified name, recorded
//! as a fact with its constant arguments, then handed to the sink that
//! owns it (dynamic import and reflection here; process, file, code and
//! socket effects in their own files).
//!
//! What it must not do: decide anything (rules judge the Call facts).

use super::names::normalize;
use super::{Binding, Folded, Kind, Sym, Walker, ARG_MAX, HUGE_ALLOC, R};
use crate::analyze::python::ebcdic;
use crate::analyze::python::fold::Val;
use crate::analyze::python::tables::{self, Taint};
use crate::analyze::{FactKind, Span};
use rustpython_parser::ast::{self, Expr, Ranged};

impl<'a> Walker<'a> {
    pub(super) fn walk_call(&mut self, c: &'a ast::ExprCall) -> R {
        // The callee itself is not an attribute read; its receiver is.
        match &*c.func {
            Expr::Attribute(a) => {
                self.reflection_attr(a);
                self.walk_expr(&a.value)?
            }
            other => self.walk_expr(other)?,
        }
        self.walk_exprs(&c.args)?;
        for k in &c.keywords {
            self.walk_expr(&k.value)?;
        }
        let span = self.span(c.range);
        for a in c.args.iter().chain(
            c.keywords
                .iter()
                .filter(|k| k.arg.as_ref().is_none_or(|n| n.as_str() != "env"))
                .map(|k| &k.value),
        ) {
            if self.is_environ(a) {
                let q = self.resolve(&c.func).map(|s| s.qual).unwrap_or_default();
                if !tables::is_subprocess(&q) && tables::exec_family(&q).is_none() {
                    self.signal("env-harvest", vec![q], span);
                }
            }
        }
        if let (Some(f), Expr::Name(n)) = (&self.current_fn, &*c.func) {
            if f == n.id.as_str() {
                self.fn_recurses = true;
            }
        }
        if let Expr::Name(n) = &*c.func {
            if self.unbounded_loops > 0
                && matches!(self.lookup(n.id.as_str()), Some(Binding::Local))
            {
                self.loop_calls.push((n.id.to_string(), span));
            }
        }
        self.ebcdic_decode(c, span);
        if let Some(sym) = self.resolve(&c.func) {
            self.on_call(c, &sym, span)?;
        }
        Ok(())
    }

    /// Whether the source text of `e` spells characters with octal, hex or
    /// unicode escapes.
    fn escaped_literal(&self, e: &Expr) -> bool {
        let range = e.range();
        let raw = self
            .code
            .get(usize::from(range.start())..usize::from(range.end()))
            .unwrap_or("");
        raw.as_bytes().windows(2).any(|w| {
            w[0] == b'\\' && (w[1].is_ascii_digit() || matches!(w[1], b'x' | b'u' | b'U' | b'N'))
        })
    }

    /// A secret (credential-named variable, the environment, a credential
    /// file) handed to a network call as data is exfiltration. Credentials
    /// used to authenticate to the service itself (`headers=`, `auth=`,
    /// `.login(user, password)`) are how clients are meant to be used.
    fn exfiltration(&mut self, c: &ast::ExprCall, q: &str, span: Span) {
        if !tables::is_network_sink(q) {
            return;
        }
        let method = q.rsplit('.').next().unwrap_or(q);
        if method.starts_with("login")
            || method.starts_with("auth")
            || method == "connect"
            || q.contains(".headers")
        {
            return;
        }
        let leaked = c
            .args
            .iter()
            .chain(
                c.keywords
                    .iter()
                    .filter(|k| {
                        k.arg.as_ref().is_none_or(|n| {
                            !matches!(
                                n.as_str(),
                                "headers"
                                    | "auth"
                                    | "password"
                                    | "passwd"
                                    | "pkey"
                                    | "key_filename"
                                    | "cert"
                            )
                        })
                    })
                    .map(|k| &k.value),
            )
            .any(|a| self.taint_of(a, 0) == Some(Taint::Secret));
        if leaked {
            self.signal("exfiltration", vec![q.to_string()], span);
        }
    }

    /// `b"...".decode("cp1026")`, `codecs.decode(x, "cp500")`: no program has a
    /// reason to carry its own text in an EBCDIC code page, so decoding one is
    /// obfuscation whatever the result is used for.
    fn ebcdic_decode(&mut self, c: &ast::ExprCall, span: Span) {
        let codec_pos = match &*c.func {
            Expr::Attribute(a) if a.attr.as_str() == "decode" => 0,
            f if self.resolve(f).is_some_and(|s| s.qual == "codecs.decode") => 1,
            _ => return,
        };
        let Some(codec) = self
            .fold_arg(c, codec_pos, "encoding")
            .and_then(|f| f.val.text().map(str::to_ascii_lowercase))
        else {
            return;
        };
        if ebcdic::is_ebcdic(&codec.replace('-', "_")) {
            self.signal("string-obfuscation", vec![format!("decode:{codec}")], span);
        }
    }

    pub(super) fn fold_arg(&self, c: &ast::ExprCall, pos: usize, kw: &str) -> Option<Folded> {
        let e = c
            .args
            .get(pos)
            .filter(|a| !matches!(a, Expr::Starred(_)))
            .or_else(|| {
                c.keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
                    .map(|k| &k.value)
            })?;
        self.fold(e)
    }

    pub(super) fn arg_expr<'c>(c: &'c ast::ExprCall, pos: usize, kw: &str) -> Option<&'c Expr> {
        c.args
            .get(pos)
            .filter(|a| !matches!(a, Expr::Starred(_)))
            .or_else(|| {
                c.keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
                    .map(|k| &k.value)
            })
    }

    pub(super) fn kwarg<'c>(c: &'c ast::ExprCall, kw: &str) -> Option<&'c Expr> {
        c.keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|n| n.as_str() == kw))
            .map(|k| &k.value)
    }

    pub(super) fn on_call(&mut self, c: &'a ast::ExprCall, sym: &Sym, span: Span) -> R {
        let q = sym.qual.as_str();
        let mut args = Vec::new();
        let mut folded_args = Vec::new();
        for a in &c.args {
            let f = self.fold(a);
            if let Some(f) = &f {
                f.val.push_args(&mut args);
            }
            folded_args.push(f);
        }
        for k in &c.keywords {
            if let (Some(name), Some(f)) = (&k.arg, self.fold(&k.value)) {
                if let Some(v) = f.val.display() {
                    args.push(format!("{name}={v}"));
                }
            }
        }
        for a in &mut args {
            if a.len() > ARG_MAX {
                let mut cut = ARG_MAX;
                while !a.is_char_boundary(cut) {
                    cut -= 1;
                }
                a.truncate(cut);
            }
        }
        if sym.kind == Kind::Instance
            && sym.taint.is_none()
            && !sym.args.is_empty()
            && args.is_empty()
        {
            args = sym.args.clone();
        }
        // exec/eval of a plain constant is not dynamic code: the payload is
        // analysed as Python below and its own facts are what gets judged.
        // Escapes (`"\145\166\141\154"`) hide the literal from a reader and keep it dynamic.
        let constant_code = tables::is_code_sink(q)
            && matches!(
                folded_args.first(),
                Some(Some(f @ Folded { val: Val::Str(_) | Val::Bytes(_), .. })) if !f.tricky()
            )
            && c.args.first().is_some_and(|a| !self.escaped_literal(a));
        if !constant_code {
            self.push(FactKind::Call, q, args.clone(), span);
        }
        if !is_data_call(q) {
            for a in &args {
                self.check_arg(a, span);
            }
        }

        match q {
            "__import__" | "importlib.import_module" | "importlib.__import__" => {
                match self.fold_arg(c, 0, "name") {
                    Some(f) if f.val.text().is_some() => {
                        let name = f.val.text().unwrap_or_default().to_string();
                        if f.tricky() {
                            self.signal("string-obfuscation", vec![name.clone()], span);
                        }
                        self.push(FactKind::Import, name, Vec::new(), span);
                    }
                    _ => self.signal("computed-name", vec![q.to_string()], span),
                }
            }
            "getattr" | "setattr" | "delattr" | "hasattr" => {
                if let Some(base) = c.args.first().and_then(|a| self.resolve(a)) {
                    if base.kind != Kind::Instance {
                        match self.fold_arg(c, 1, "name") {
                            Some(f) if f.val.text().is_some() => {
                                let name = f.val.text().unwrap_or_default();
                                let qual = normalize(&format!("{}.{name}", base.qual));
                                if f.tricky() {
                                    self.signal("string-obfuscation", vec![qual.clone()], span);
                                }
                                self.push(FactKind::Attribute, qual, Vec::new(), span);
                            }
                            _ => self.signal("computed-name", vec![base.qual.clone()], span),
                        }
                    }
                }
            }
            "globals"
            | "locals"
            | "sys._getframe"
            | "inspect.currentframe"
            | "inspect.stack"
            | "gc.get_objects"
            | "gc.get_referrers"
            | "gc.get_referents" => self.signal("reflection", vec![q.to_string()], span),
            "vars" | "dir" if c.args.is_empty() => {
                self.signal("reflection", vec![q.to_string()], span)
            }
            "vars"
                if c.args
                    .first()
                    .and_then(|a| self.resolve(a))
                    .is_some_and(|s| s.kind != Kind::Instance) =>
            {
                self.signal("reflection", vec![q.to_string()], span);
            }
            _ => {}
        }

        if tables::is_code_sink(q) {
            self.code_sink(c, q, span)?;
        }
        if tables::is_shell_sink(q) {
            if let Some(arg) = Self::arg_expr(c, 0, "cmd") {
                self.shell_arg(arg, q, span)?;
            }
        }
        if tables::is_subprocess(q) {
            self.subprocess(c, q, span)?;
        }
        if let Some((skip, vform)) = tables::exec_family(q) {
            let mut argv: Vec<Option<String>> = Vec::new();
            if vform {
                if let Some(list) = c.args.get(skip + 1) {
                    argv = self.fold_list(list);
                }
            } else {
                argv = c
                    .args
                    .iter()
                    .skip(skip + 1)
                    .map(|a| self.fold(a).and_then(|f| f.val.text().map(str::to_string)))
                    .collect();
            }
            let path = c
                .args
                .get(skip)
                .and_then(|a| self.fold(a))
                .and_then(|f| f.val.text().map(str::to_string));
            if argv.first().is_none_or(|a| a.is_none()) {
                if argv.is_empty() {
                    argv.push(path.clone());
                } else {
                    argv[0] = path.clone();
                }
            } else if let Some(p) = path {
                argv[0] = Some(p);
            }
            self.argv(&argv, vec![q.to_string()], span)?;
        }
        if matches!(q, "bytearray" | "bytes" | "os.urandom")
            && matches!(folded_args.first(), Some(Some(Folded { val: Val::Int(n), .. })) if *n > HUGE_ALLOC)
        {
            self.signal("resource-exhaustion", vec![q.to_string()], span);
        }
        if q == "pty.spawn" {
            let argv = c
                .args
                .first()
                .map(|a| self.fold_list(a))
                .unwrap_or_default();
            self.wired.push(span);
            self.argv(&argv, vec![q.to_string()], span)?;
        }
        if q == "os.dup2" {
            let target = folded_args.get(1).and_then(|f| f.as_ref()).map(|f| &f.val);
            let from_socket = c
                .args
                .first()
                .is_some_and(|a| self.taint_of(a, 0) == Some(Taint::Socket));
            if matches!(target, Some(Val::Int(0..=2)))
                && (from_socket || self.connected.is_some() || target.is_some())
            {
                self.wired.push(span);
            }
        }
        if (q.starts_with("socket.") && (q.ends_with(".connect") || q.ends_with(".connect_ex")))
            || q == "socket.create_connection"
            || q.starts_with("socket.create_connection.")
        {
            self.connected.get_or_insert(span);
        }

        self.exfiltration(c, q, span);
        self.file_effects(c, sym, &folded_args, span);
        self.spawn_effects(c, q, span);

        if q == "os.environ.items"
            || q == "os.environ.keys"
            || q == "os.environ.values"
            || q == "os.environ.copy"
            || q == "os.environb.items"
            || q == "os.environ.__iter__"
        {
            self.signal("env-harvest", vec![q.to_string()], span);
        }
        Ok(())
    }
}

/// Calls whose string arguments are plain data, not paths, hosts or code.
pub(super) fn is_data_call(q: &str) -> bool {
    matches!(
        q,
        "print"
            | "len"
            | "str"
            | "repr"
            | "int"
            | "float"
            | "format"
            | "isinstance"
            | "ord"
            | "list"
            | "dict"
            | "set"
            | "tuple"
            | "sorted"
            | "input"
            | "hasattr"
            | "bool"
    ) || q.starts_with("logging.")
        || q.starts_with("sys.stdout")
        || q.starts_with("sys.stderr")
        || q.starts_with("re.")
        || q.starts_with("string.")
        || q.starts_with("textwrap.")
        || q.starts_with("argparse.")
        || q.starts_with("warnings.")
        || q.starts_with("unittest.")
        || q.starts_with("typing.")
        || q.starts_with("collections.")
        || q.starts_with("datetime.")
}
