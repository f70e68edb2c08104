//! Process sinks: `child_process` and its bindings, commands and argv
//! to Command facts, fork bombs.
//!
//! What it must not do: run anything; command strings go to the Bash
//! analyzer through `embedded.rs`.

use super::calls::visit_deep;
use super::embedded::Foreign;
use super::{span_of, Walker};
use crate::analyze::javascript::names::{self, basename, is_cloud_metadata, sensitive_path};
use crate::analyze::javascript::value::{Val, SELF_MARK, V};
use crate::analyze::{Fact, FactKind};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn fork_check(&mut self, node: Node<'t>, self_spawn: bool) {
        if self.ctx.in_infinite || (self_spawn && (self.ctx.in_loop || !self.ctx.in_cond)) {
            self.signal("fork-bomb", node, Vec::new());
        }
    }

    pub(super) fn process_call(&mut self, node: Node<'t>, p: &str, args: &[Val<'t>]) {
        let method = p.rsplit('.').next().unwrap_or(p).trim_end_matches("()");
        let first = args.first().cloned().unwrap_or_default();
        let self_spawn = args.iter().any(|a| {
            let mut hit = false;
            visit_deep(a, 0, &mut |v, _| {
                if v.to_partial_string().is_some_and(|s| s.contains(SELF_MARK)) {
                    hit = true;
                }
            });
            hit
        });
        self.fork_check(node, self_spawn);
        if !first.decoders.is_empty() {
            let d: Vec<String> = first.decoders.iter().map(|s| s.to_string()).collect();
            self.signal("decode-exec", node, d);
        }
        if first.obf {
            self.signal(
                "string-obfuscation",
                node,
                vec![format!("{p}(hidden command)")],
            );
        }
        let shell_method = matches!(method, "exec" | "execSync" | "command" | "commandSync")
            || p == "shelljs.exec"
            || p == "execa.command";
        if shell_method && !p.starts_with("execa")
            || p == "execa.command"
            || p == "execa.commandSync"
        {
            self.shell_payload(node, p, &first);
            return;
        }
        // spawn / execFile / fork style: file + argv + options.
        let argv: Vec<Val<'t>> = match args.get(1).map(|a| &a.v) {
            Some(V::Arr(items)) => items.clone(),
            _ => Vec::new(),
        };
        let opts = args.iter().skip(1).find_map(|a| match &a.v {
            V::Obj(o) => Some(o.clone()),
            _ => None,
        });
        let shell_opt = opts.as_ref().is_some_and(|o| {
            o.iter()
                .any(|(k, v)| k == "shell" && v.truthy() != Some(false))
        });
        let Some(file) = first.to_partial_string() else {
            return;
        };
        let argv_s: Vec<String> = argv
            .iter()
            .map(|a| a.to_partial_string().unwrap_or_else(|| "*".into()))
            .collect();
        if method == "fork" {
            return;
        }
        if shell_opt {
            let mut cmd = file.clone();
            for a in &argv_s {
                cmd.push(' ');
                cmd.push_str(a);
            }
            self.shell_payload(node, p, &Val::str(cmd).taint_from(&first));
            return;
        }
        let name = basename(&file).to_string();
        self.emit_command(node, &name, argv_s.clone(), p);
        for s in &argv_s {
            if let Some(why) =
                sensitive_path(s).filter(|_| s.starts_with('/') || s.starts_with('~'))
            {
                self.signal(
                    "sensitive-path",
                    node,
                    vec![names::normalize_path(s), why.into()],
                );
            }
            if is_cloud_metadata(s) {
                self.signal("cloud-metadata", node, vec![s.clone()]);
            }
        }
        let code_flag = |flags: &[&str]| {
            argv.iter()
                .position(|a| a.as_str().is_some_and(|s| flags.contains(&s)))
                .and_then(|i| argv.get(i + 1).cloned())
        };
        if names::is_shell(&file) {
            if let Some(script) =
                code_flag(&["-c", "/c", "/C", "-Command", "-command", "-EncodedCommand"])
            {
                let via = format!("{p}({name} -c)");
                self.shell_payload(node, &via, &script);
            }
        } else if names::is_interpreter(&file) {
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("node") || lower == "deno" || lower == "bun" {
                if let Some(code) = code_flag(&["-e", "--eval", "-p", "--print"]) {
                    self.dynamic_code(node, &format!("{p}(node -e)"), Some(&code));
                }
            } else if lower.starts_with("python") {
                if let Some(code) = code_flag(&["-c"]) {
                    self.signal("dynamic-code", node, vec![format!("{p}(python -c)")]);
                    self.foreign_payload(node, &format!("{p}(python -c)"), &code, Foreign::Python);
                }
            } else if let Some(code) = code_flag(&["-e", "-r", "-E"]) {
                self.signal("dynamic-code", node, vec![format!("{p}({name} -e)")]);
                let _ = code;
            }
        }
    }

    /// `process.binding('spawn_sync').spawn({ file, args })`: the raw spawn
    /// behind child_process, used to bypass hooks on the module.
    pub(super) fn binding_spawn(&mut self, node: Node<'t>, p: &str, opts: &Val<'t>) {
        let V::Obj(props) = &opts.v else { return };
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.clone())
        };
        let file = get("file").unwrap_or_default();
        let argv = match get("args").map(|a| a.v) {
            // argv[0] is the program name again.
            Some(V::Arr(items)) => items.into_iter().skip(1).collect(),
            _ => Vec::new(),
        };
        self.process_call(node, &format!("{p}()"), &[file, Val::of(V::Arr(argv))]);
    }

    pub(super) fn emit_command(
        &mut self,
        node: Node<'t>,
        name: &str,
        args: Vec<String>,
        via: &str,
    ) {
        if self.record_hoisted {
            return;
        }
        self.facts.push(
            Fact::new(FactKind::Command, name, span_of(node))
                .with_args(args)
                .with_via(vec![via.to_string()]),
        );
    }
}

pub(super) fn is_process_api(p: &str) -> bool {
    let Some((root, method)) = p.split_once('.') else {
        return matches!(p, "execa" | "cross-spawn" | "execa.execa");
    };
    match root {
        "child_process" => matches!(
            method,
            "exec" | "execSync" | "spawn" | "spawnSync" | "execFile" | "execFileSync" | "fork"
        ),
        "shelljs" => method == "exec",
        "execa" => matches!(
            method,
            "command" | "commandSync" | "execa" | "execaSync" | "sync"
        ),
        "child-process-promise" => matches!(method, "exec" | "spawn" | "execFile"),
        _ => false,
    }
}
