//! Call dispatch: arguments, `new`, `apply`/`call`/`bind`, Call facts
//! with their constant arguments, checks on arguments that matter, and the
//! routing of a qualified call path to its sink (process, file, dynamic
//! code) or to folding.
//!
//! What it must not do: decide anything (rules judge the Call facts).

use super::functions::returned_global;
use super::process::is_process_api;
use super::{Walker, HUGE_BYTES, HUGE_ITEMS};
use crate::analyze::javascript::names::{self, is_cloud_metadata, sensitive_path};
use crate::analyze::javascript::value::{self, Val, SELF_MARK, V};
use crate::analyze::FactKind;
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn eval_args(&mut self, args_node: Option<Node<'t>>) -> Vec<Val<'t>> {
        let Some(a) = args_node else {
            return Vec::new();
        };
        if a.kind() == "template_string" {
            return vec![self.eval(a)];
        }
        let mut out = Vec::new();
        for i in 0..a.named_child_count() {
            let Some(c) = a.named_child(i as u32) else {
                continue;
            };
            if c.kind() == "comment" {
                continue;
            }
            let v = self.eval(c);
            if c.kind() == "spread_element" {
                match v.v {
                    V::Arr(items) => out.extend(items),
                    _ => out.push(Val::unknown()),
                }
            } else {
                out.push(v);
            }
        }
        out
    }

    pub(super) fn call(&mut self, node: Node<'t>) -> Val<'t> {
        let Some(fnode) = self.field(node, "function") else {
            return Val::unknown();
        };
        let args_node = self.field(node, "arguments");
        if fnode.kind() == "import" {
            let args = self.eval_args(args_node);
            let first = args.into_iter().next().unwrap_or_default();
            return self.import_module(&first, node);
        }
        let (callee, recv, key) =
            if matches!(fnode.kind(), "member_expression" | "subscript_expression") {
                let (obj, key) = self.member_parts(fnode);
                let callee = self.resolve_member(fnode, obj.clone(), key.clone());
                (callee, Some(obj), key.map(|(k, _)| k))
            } else {
                (self.eval(fnode), None, None)
            };
        let saved = self.ctx;
        // A callback repeated with no real delay is an unbounded loop; one
        // on a timer of a second is a periodic job.
        let slow_timer = args_node
            .and_then(|a| a.named_child(1))
            .filter(|d| d.kind() == "number")
            .and_then(|d| value::parse_js_number(self.text(d)))
            .is_some_and(|ms| ms >= 100.0);
        if callee.as_path().is_some_and(|p| p.ends_with("setInterval")) && !slow_timer {
            self.ctx.in_infinite = true;
            self.ctx.in_loop = true;
        }
        let args = self.eval_args(args_node);
        self.ctx = saved;
        self.apply(node, callee, recv, key.as_deref(), args, false)
    }

    pub(super) fn new_expr(&mut self, node: Node<'t>) -> Val<'t> {
        let callee = match self.field(node, "constructor") {
            Some(c) => {
                self.no_attr = Some(c.id());
                self.eval(c)
            }
            None => Val::unknown(),
        };
        let args = self.eval_args(self.field(node, "arguments"));
        self.apply(node, callee, None, None, args, true)
    }

    /// Applies a call: folds built-ins, follows `call`/`apply`/`bind`,
    /// inlines program functions, and records calls of resolved names.
    pub(super) fn apply(
        &mut self,
        node: Node<'t>,
        callee: Val<'t>,
        recv: Option<Val<'t>>,
        key: Option<&str>,
        args: Vec<Val<'t>>,
        is_new: bool,
    ) -> Val<'t> {
        if let (Some(r), Some(k)) = (&recv, key) {
            if let Some(v) = self.fold_method(node, r, k, &args) {
                return v;
            }
            let fn_like = matches!(r.v, V::Func(_)) || r.as_path().is_some_and(|p| !p.is_empty());
            if fn_like {
                match k {
                    "call" => {
                        let rest = args.into_iter().skip(1).collect();
                        return self.apply(node, r.clone(), None, None, rest, false);
                    }
                    "apply" => {
                        let rest = match args.into_iter().nth(1).map(|a| a.v) {
                            Some(V::Arr(items)) => items,
                            _ => Vec::new(),
                        };
                        return self.apply(node, r.clone(), None, None, rest, false);
                    }
                    "bind" => return r.clone(),
                    _ => {}
                }
            }
            // `import('child_process').then(cp => cp.exec(...))`.
            if k == "then"
                && r.as_path()
                    .is_some_and(|p| !p.is_empty() && !p.contains("()"))
            {
                if let Some(V::Func(f)) = args.first().map(|a| &a.v) {
                    let f = *f;
                    self.inline_call(f, std::slice::from_ref(r));
                }
            }
            if k == "pipe" {
                self.check_pipe(node, r, &args);
            }
        }
        self.check_args(node, &callee, &args);
        match &callee.v {
            V::Path(p) if !p.is_empty() => {
                let p = p.clone();
                self.call_path(node, &p, args, is_new).taint_from(&callee)
            }
            V::Func(f) => {
                let f = *f;
                self.inline_call(f, &args)
            }
            V::Thunk(target) => Val::path(target.clone()),
            _ => {
                if recv.as_ref().is_some_and(|r| !r.decoders.is_empty())
                    && key.is_some_and(|k| {
                        matches!(k, "toString" | "trim" | "replace" | "slice" | "toLowerCase")
                    })
                {
                    // Decoded bytes of unknown content keep their provenance.
                    let mut v = Val::unknown();
                    if let Some(r) = &recv {
                        v = v.taint_from(r);
                    }
                    return v;
                }
                Val::unknown()
            }
        }
    }

    /// Checks every call's arguments for the whole environment, cloud
    /// metadata addresses, and function references passed as callbacks.
    pub(super) fn check_args(&mut self, node: Node<'t>, callee: &Val<'t>, args: &[Val<'t>]) {
        let path = callee.as_path().unwrap_or("");
        let root = path.split('.').next().unwrap_or("");
        let passes_env = matches!(
            root,
            "child_process" | "worker_threads" | "Worker" | "cluster" | "execa" | "cross-spawn"
        );
        let logging = root == "console";
        // Writing into the environment (`Object.assign(process.env, parsed)`) is not reading it.
        let skip = usize::from(matches!(
            path,
            "Object.assign" | "Object.defineProperty" | "Object.defineProperties"
        ));
        let mut env = false;
        let mut meta: Option<String> = None;
        for a in args.iter().skip(skip) {
            visit_deep(a, 0, &mut |v, key| {
                if v.as_path() == Some("process.env") && !(passes_env && key == Some("env")) {
                    env = true;
                }
                if let Some(s) = v.to_partial_string() {
                    if meta.is_none() && !logging && is_cloud_metadata(&s) {
                        meta = Some(s);
                    }
                }
            });
        }
        if env {
            self.signal("env-harvest", node, vec![format!("{path}(process.env)")]);
        }
        if is_upload(path) {
            if let Some(var) = args.iter().find_map(|a| secret_in(a, 0)) {
                self.signal("exfiltration", node, vec![format!("{path}({var})")]);
            }
        }
        if let Some(m) = meta {
            self.signal("cloud-metadata", node, vec![m]);
        }
        // Sinks handed over as callbacks: `.then(eval)`, `arr.forEach(cp.exec)`.
        for a in args {
            if let V::Path(p) = &a.v {
                if names::code_sink(p).is_some() {
                    let p = p.clone();
                    self.emit(FactKind::Call, p.clone(), node, Vec::new());
                    self.signal("dynamic-code", node, vec![p]);
                } else if p.starts_with("child_process.") && !p.contains("()") {
                    let p = p.clone();
                    self.emit(FactKind::Call, p, node, Vec::new());
                }
            }
        }
    }

    /// `socket.pipe(sh.stdin)` / `sh.stdout.pipe(socket)`.
    pub(super) fn check_pipe(&mut self, node: Node<'t>, recv: &Val<'t>, args: &[Val<'t>]) {
        let r = recv.as_path().unwrap_or("");
        let a = args.first().and_then(|a| a.as_path()).unwrap_or("");
        let is_net = |p: &str| {
            ["net.", "tls.", "dgram.", "WebSocket", "ws."]
                .iter()
                .any(|n| p.starts_with(n))
                && p.contains("()")
        };
        let is_proc = |p: &str| p.starts_with("child_process.") && p.contains("()");
        if (is_net(r) && is_proc(a)) || (is_proc(r) && is_net(a)) {
            self.signal("reverse-shell", node, vec![format!("{r} -> {a}")]);
        }
    }

    pub(super) fn emit_call(&mut self, node: Node<'t>, path: &str, args: &[Val<'t>]) {
        let consts: Vec<String> = args.iter().filter_map(|a| a.to_partial_string()).collect();
        self.emit(FactKind::Call, path, node, consts.clone());
        let root = path.split('.').next().unwrap_or("");
        let data_sink = matches!(
            root,
            "child_process"
                | "fs"
                | "net"
                | "tls"
                | "dgram"
                | "http"
                | "https"
                | "http2"
                | "fetch"
                | "WebSocket"
                | "vm"
                | "eval"
                | "Function"
                | "require"
                | "dns"
                | "axios"
                | "got"
                | "node-fetch"
                | "request"
                | "undici"
                | "process"
        );
        if data_sink {
            for a in args {
                if let Some(s) = a
                    .to_partial_string()
                    .filter(|_| matches!(a.v, V::Str(_) | V::Partial(_)))
                {
                    if !s.is_empty() && s.len() <= 4096 {
                        let s = s.to_string();
                        self.emit(FactKind::String, s, node, Vec::new());
                    }
                }
            }
        }
    }

    pub(super) fn call_path(
        &mut self,
        node: Node<'t>,
        p: &str,
        args: Vec<Val<'t>>,
        is_new: bool,
    ) -> Val<'t> {
        let _ = is_new;
        self.emit_call(node, p, &args);
        let first = args.first().cloned().unwrap_or_default();
        let root = p.split('.').next().unwrap_or("");
        let method = p.rsplit('.').next().unwrap_or(p);

        if names::REQUIRE_LIKE.contains(&p) || p.ends_with("createRequire()") {
            if p.contains("_load") {
                self.signal("reflection", node, vec![p.to_string()]);
            }
            return self.import_module(&first, node);
        }
        if matches!(
            p,
            "module.createRequire" | "createRequire" | "module.Module.createRequire"
        ) {
            return Val::path("require");
        }
        if let Some(idx) = names::code_sink(p) {
            let code = match idx {
                Some(i) => args.get(i).cloned(),
                None => args.last().cloned(),
            };
            self.dynamic_code(node, p, code.as_ref());
            if idx.is_none() {
                if let Some(target) = code
                    .as_ref()
                    .and_then(|c| c.as_str())
                    .and_then(returned_global)
                {
                    return Val::of(V::Thunk(target));
                }
            }
            return Val::path(format!("{p}()"));
        }
        if names::is_timer(p) && matches!(first.v, V::Str(_) | V::Partial(_))
            || names::is_timer(p) && !first.decoders.is_empty()
        {
            self.dynamic_code(node, p, Some(&first));
            return Val::unknown();
        }
        if matches!(p, "process.binding" | "process._linkedBinding") {
            self.signal("reflection", node, vec![p.to_string()]);
            // Name the binding so its members resolve: `process.binding('spawn_sync').spawn(...)`.
            if let Some(b) = first.as_str() {
                return Val::path(format!("process.binding.{b}"));
            }
        }
        if p == "process.binding.spawn_sync.spawn" {
            self.binding_spawn(node, p, &first);
        }
        if is_process_api(p) {
            self.process_call(node, p, &args);
            return Val::path(format!("{p}()"));
        }
        if matches!(p, "cluster.fork" | "worker_threads.Worker" | "Worker") {
            let self_spawn = args
                .iter()
                .any(|a| a.to_partial_string().is_some_and(|s| s.contains(SELF_MARK)));
            self.fork_check(node, self_spawn);
            if let Some(V::Obj(opts)) = args.get(1).map(|a| &a.v) {
                if opts
                    .iter()
                    .any(|(k, v)| k == "eval" && v.truthy() == Some(true))
                {
                    self.dynamic_code(node, p, Some(&first));
                }
            }
            return Val::path(format!("{p}()"));
        }
        if root == "fs" || matches!(root, "rimraf" | "del" | "trash") {
            self.fs_call(node, p, &args);
        }
        if p == "process.kill" && first.as_num().is_some_and(|n| n == -1.0 || n == 1.0) {
            self.signal(
                "kill-all",
                node,
                vec![value::num_to_string(first.as_num().unwrap_or(0.0))],
            );
        }
        if matches!(
            p,
            "Buffer.alloc"
                | "Buffer.allocUnsafe"
                | "Buffer.allocUnsafeSlow"
                | "ArrayBuffer"
                | "SharedArrayBuffer"
        ) && first.as_num().is_some_and(|n| n >= HUGE_BYTES)
            || matches!(p, "Array" | "Float64Array" | "Uint8Array" | "Int32Array")
                && first.as_num().is_some_and(|n| n >= HUGE_ITEMS)
        {
            self.signal(
                "resource-exhaustion",
                node,
                vec![format!(
                    "{p}({})",
                    value::num_to_string(first.as_num().unwrap_or(0.0))
                )],
            );
        }
        if matches!(root, "net" | "tls" | "http" | "https" | "http2" | "process")
            || p.contains("()")
        {
            for a in &args {
                let mut found: Vec<(String, &'static str)> = Vec::new();
                visit_deep(a, 0, &mut |v, _| {
                    if let Some(s) = v.to_partial_string() {
                        if s.starts_with('/') {
                            if let Some(why) = sensitive_path(&s) {
                                found.push((names::normalize_path(&s), why));
                            }
                        }
                    }
                });
                for (s, why) in found {
                    self.signal("sensitive-path", node, vec![s, why.into()]);
                }
            }
        }
        if let Some(v) = self.fold_builtin(node, p, &args) {
            return v;
        }
        if p.contains("createDecipher")
            || p.starts_with("zlib.")
                && (method.contains("nflate")
                    || method.contains("unzip")
                    || method.contains("ecompress"))
        {
            return Val::unknown().taint_from(&first).decoded("zlib");
        }
        Val::path(format!("{p}()"))
    }
}

/// Visits a value and the members of arrays and objects inside it, with the
/// object key each value sits under.
pub(super) fn visit_deep<'t>(v: &Val<'t>, depth: usize, f: &mut dyn FnMut(&Val<'t>, Option<&str>)) {
    visit_deep_keyed(v, None, depth, f);
}

pub(super) fn visit_deep_keyed<'t>(
    v: &Val<'t>,
    key: Option<&str>,
    depth: usize,
    f: &mut dyn FnMut(&Val<'t>, Option<&str>),
) {
    f(v, key);
    if depth > 4 {
        return;
    }
    match &v.v {
        V::Arr(items) => {
            for i in items.iter().take(256) {
                visit_deep_keyed(i, key, depth + 1, f);
            }
        }
        V::Obj(props) => {
            for (k, i) in props.iter().take(256) {
                visit_deep_keyed(i, Some(k), depth + 1, f);
            }
        }
        _ => {}
    }
}

/// Calls that send their arguments off the machine: requests, and writes
/// on a request or socket object.
fn is_upload(path: &str) -> bool {
    super::super::is_request_call(path)
        || ((path.starts_with("http.") || path.starts_with("https.") || path.starts_with("net."))
            && path.contains("()")
            && (path.ends_with(".write") || path.ends_with(".end")))
}

/// A credential-named environment variable (`process.env.AWS_SECRET_ACCESS_KEY`)
/// inside a value, outside the `headers`/`auth` options where a client
/// authenticates to the service it calls.
fn secret_in(v: &Val<'_>, depth: usize) -> Option<String> {
    if depth > 4 {
        return None;
    }
    match &v.v {
        V::Path(p) => p
            .strip_prefix("process.env.")
            .filter(|name| crate::analyze::secrets::is_secret_env(name))
            .map(|_| p.clone()),
        V::Arr(items) => items.iter().take(256).find_map(|i| secret_in(i, depth + 1)),
        V::Obj(props) => props
            .iter()
            .take(256)
            .filter(|(k, _)| {
                !matches!(
                    k.to_ascii_lowercase().as_str(),
                    "headers" | "auth" | "authorization"
                )
            })
            .find_map(|(_, i)| secret_in(i, depth + 1)),
        _ => None,
    }
}
