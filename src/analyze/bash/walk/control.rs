//! Control flow: function definitions (and the fork-bomb shape of a function
//! that calls itself in the background or through a pipe) and loops (the
//! infinite-loop and resource-exhaustion signals, loop variables). Branches
//! (`if`, `case`) need no semantics of their own and go through the generic walk.

use tree_sitter::Node;

use super::{span_of, Analyzer, Ctx, Output, Var, R, WORDS};
use crate::analyze::bash::paths;
use crate::analyze::bash::words::Taint;
use crate::analyze::{AnalyzeError, FactKind, Span};

impl<'s> Analyzer<'s> {
    pub(super) fn function(&mut self, node: Node<'s>) -> R<Output> {
        let name = node
            .child_by_field_name("name")
            .map(|n| self.text(n).to_string())
            .unwrap_or_default();
        let span = span_of(node);
        // Only a definition that always runs (at the top of the script)
        // surely shadows a program of the same name.
        if node.parent().is_some_and(|p| p.kind() == "program") {
            self.functions.insert(name.clone());
        }
        if let Some(body) = node.child_by_field_name("body") {
            let scan = self.scan(body, &name)?;
            if (scan.self_calls >= 2 && (scan.pipes || scan.background))
                || (scan.self_calls >= 1 && scan.background && scan.loops)
            {
                self.signal("fork-bomb", span);
            }
            let saved = std::mem::replace(&mut self.unset_is_empty, false);
            let r = self.stmt(body, &Ctx::default());
            self.unset_is_empty = saved;
            r?;
        }
        Ok(Output {
            text: Some(String::new()),
            ..Output::default()
        })
    }

    /// Iterative scan of a subtree: calls to `name`, pipes, background jobs,
    /// loops and loop exits.
    fn scan(&mut self, node: Node<'s>, name: &str) -> R<Scan> {
        let mut s = Scan::default();
        let mut cursor = node.walk();
        let mut steps = 0usize;
        loop {
            let n = cursor.node();
            steps += 1;
            if steps.is_multiple_of(4096) && self.budget.expired() {
                return Err(AnalyzeError::Timeout);
            }
            match n.kind() {
                "command_name" => {
                    let t = self.text(n);
                    if !name.is_empty() && t == name {
                        s.self_calls += 1;
                    }
                    if matches!(t, "break" | "exit" | "return") {
                        s.exits = true;
                    }
                }
                "pipeline" => s.pipes = true,
                "&" => s.background = true,
                "while_statement" | "for_statement" | "c_style_for_statement" => s.loops = true,
                "variable_assignment" => {
                    if let Some(v) = n.child_by_field_name("name") {
                        let var = self.text(v);
                        let val = n
                            .child_by_field_name("value")
                            .map(|x| self.text(x))
                            .unwrap_or("");
                        let mut c = n.walk();
                        let plus = n.children(&mut c).any(|x| x.kind() == "+=");
                        if plus
                            || val.contains(&format!("${var}"))
                            || val.contains(&format!("${{{var}}}"))
                        {
                            s.grows = true;
                        }
                    }
                }
                _ => {}
            }
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() || cursor.node() == node {
                    return Ok(s);
                }
            }
        }
    }

    pub(super) fn loop_body(
        &mut self,
        node: Node<'s>,
        infinite: bool,
        span: Span,
        ctx: &Ctx,
    ) -> R<()> {
        let body = node.child_by_field_name("body");
        if infinite {
            let scan = match body {
                Some(b) => self.scan(b, "")?,
                None => Scan::default(),
            };
            if !scan.exits {
                self.signal("infinite-loop", span);
                // A busy loop (`while :; do echo hi; done`) only burns the
                // CPU share and the time the sandbox grants anyway; a loop
                // that grows a value exhausts memory, which is the abuse.
                if scan.grows {
                    self.signal("resource-exhaustion", span);
                }
            }
            if let Some(b) = body {
                let inf = !scan.exits;
                self.stmt(
                    b,
                    &Ctx {
                        infinite_loop: inf || ctx.infinite_loop,
                        bg: false,
                        ..ctx.clone()
                    },
                )?;
            }
        } else if let Some(b) = body {
            self.stmt(
                b,
                &Ctx {
                    bg: false,
                    ..ctx.clone()
                },
            )?;
        }
        Ok(())
    }

    pub(super) fn while_loop(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let until = node.child(0).is_some_and(|c| c.kind() == "until");
        let mut conds = Vec::new();
        let mut cursor = node.walk();
        for c in node.children_by_field_name("condition", &mut cursor) {
            if c.is_named() {
                conds.push(c);
            }
        }
        let infinite = conds.len() == 1 && {
            let t = self.text(conds[0]).trim();
            if until {
                matches!(t, "false" | "/bin/false" | "[ ]" | "((0))" | "(( 0 ))")
            } else {
                matches!(
                    t,
                    "true"
                        | ":"
                        | "/bin/true"
                        | "[ 1 ]"
                        | "((1))"
                        | "(( 1 ))"
                        | "[[ 1 ]]"
                        | "[ true ]"
                )
            }
        };
        for c in &conds {
            self.stmt(
                *c,
                &Ctx {
                    bg: false,
                    ..ctx.clone()
                },
            )?;
        }
        self.loop_body(node, infinite, span_of(node), ctx)?;
        Ok(Output::default())
    }

    pub(super) fn c_for(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let infinite = node.child_by_field_name("condition").is_none();
        for f in ["initializer", "condition", "update"] {
            if let Some(c) = node.child_by_field_name(f) {
                if WORDS.contains(&c.kind()) {
                    self.word(c)?;
                }
            }
        }
        self.loop_body(node, infinite, span_of(node), ctx)?;
        Ok(Output::default())
    }

    pub(super) fn for_loop(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut taint = Taint::default();
        let mut cursor = node.walk();
        let values: Vec<Node<'s>> = node.children_by_field_name("value", &mut cursor).collect();
        for v in values {
            let w = self.word(v)?;
            taint.merge(&w.taint);
            for part in w.split() {
                if let Some(c) = part.constant() {
                    if paths::is_pathlike(&c) {
                        let p = paths::normalise(&c);
                        let span = span_of(v);
                        self.check_path(&p, span, true);
                        self.emit(FactKind::String, p, Vec::new(), span);
                    }
                }
            }
        }
        if let Some(var) = node.child_by_field_name("variable") {
            let name = self.text(var).to_string();
            self.vars.insert(
                name,
                Var {
                    value: None,
                    array: None,
                    taint,
                },
            );
        }
        self.loop_body(node, false, span_of(node), ctx)?;
        Ok(Output::default())
    }
}

#[derive(Debug, Default)]
struct Scan {
    self_calls: usize,
    pipes: bool,
    background: bool,
    loops: bool,
    exits: bool,
    grows: bool,
}
