//! The Python analyzer: parses with `rustpython-parser` and turns the tree
//! into [`Fact`]s (see [`crate::analyze::fact`] for the contract).
//!
//! Owns: parsing, the nesting pre-scan, and the tree walk in [`walk`]
//! (name resolution, constant folding in [`fold`], payload recursion into
//! Python/bash/JavaScript, technique signals). It never decides verdicts
//! and never runs code.
//!
//! Bounds: bracket nesting deeper than `budget.max_depth` is refused before
//! parsing (CPython itself refuses more than 200 levels); the walk counts
//! depth and checks the clock; the tree is dropped iteratively so a very long
//! operator chain cannot overflow the stack when it is freed.

mod ebcdic;
mod fold;
mod shellscan;
mod tables;
mod walk;

use rustpython_parser::ast::{self, Expr, Mod, Pattern, Stmt};
use rustpython_parser::{parse, Mode};

use super::{AnalyzeError, Budget, Fact};

/// Extracts facts from Python source.
pub fn extract(code: &str, budget: &Budget) -> Result<Vec<Fact>, AnalyzeError> {
    if code.len() > budget.max_bytes {
        return Err(AnalyzeError::TooLarge {
            size: code.len(),
            limit: budget.max_bytes,
        });
    }
    if budget.expired() {
        return Err(AnalyzeError::Timeout);
    }
    prescan(code, budget)?;
    let lines = walk::LineIndex::new(code);
    let module = parse(code, Mode::Module, "<submitted>").map_err(|e| {
        let (line, column) = lines.position(code, usize::from(e.offset).min(code.len()));
        AnalyzeError::Unparseable {
            line,
            column,
            message: e.error.to_string(),
        }
    })?;
    let body = match module {
        Mod::Module(m) => m.body,
        Mod::Interactive(m) => m.body,
        Mod::Expression(_) | Mod::FunctionType(_) => Vec::new(),
    };
    let result = walk::Walker::new(code, &lines, budget).run(&body);
    dismantle(body);
    let mut facts = result?;
    super::fact::tag_language(&mut facts, crate::Language::Python);
    Ok(facts)
}

/// Refuses bracket nesting deeper than the budget before the parser sees it.
fn prescan(code: &str, budget: &Budget) -> Result<(), AnalyzeError> {
    let bytes = code.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'\'' | b'"') => {
                let triple = bytes.get(i + 1) == Some(&q) && bytes.get(i + 2) == Some(&q);
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b if b == q && !triple => break,
                        b'\n' if !triple => break,
                        b if b == q
                            && bytes.get(i + 1) == Some(&q)
                            && bytes.get(i + 2) == Some(&q) =>
                        {
                            i += 2;
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > budget.max_depth {
                    return Err(AnalyzeError::TooDeep {
                        limit: budget.max_depth,
                    });
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

enum Node {
    S(Stmt),
    E(Expr),
    P(Pattern),
}

/// Drops a syntax tree with an explicit stack: the derived `Drop` recurses
/// once per level, and `1+1+...+1` is a few hundred thousand levels deep.
fn dismantle(body: Vec<Stmt>) {
    let mut stack: Vec<Node> = body.into_iter().map(Node::S).collect();
    let exprs = |stack: &mut Vec<Node>, es: Vec<Expr>| stack.extend(es.into_iter().map(Node::E));
    let args = |stack: &mut Vec<Node>, a: ast::Arguments| {
        for x in a.posonlyargs.into_iter().chain(a.args).chain(a.kwonlyargs) {
            if let Some(d) = x.default {
                stack.push(Node::E(*d));
            }
        }
    };
    while let Some(node) = stack.pop() {
        match node {
            Node::S(s) => match s {
                Stmt::FunctionDef(f) => {
                    stack.extend(f.body.into_iter().map(Node::S));
                    exprs(&mut stack, f.decorator_list);
                    args(&mut stack, *f.args);
                }
                Stmt::AsyncFunctionDef(f) => {
                    stack.extend(f.body.into_iter().map(Node::S));
                    exprs(&mut stack, f.decorator_list);
                    args(&mut stack, *f.args);
                }
                Stmt::ClassDef(c) => {
                    stack.extend(c.body.into_iter().map(Node::S));
                    exprs(&mut stack, c.bases);
                    exprs(&mut stack, c.decorator_list);
                }
                Stmt::Return(r) => stack.extend(r.value.map(|v| Node::E(*v))),
                Stmt::Delete(d) => exprs(&mut stack, d.targets),
                Stmt::Assign(a) => {
                    exprs(&mut stack, a.targets);
                    stack.push(Node::E(*a.value));
                }
                Stmt::AugAssign(a) => {
                    stack.push(Node::E(*a.target));
                    stack.push(Node::E(*a.value));
                }
                Stmt::AnnAssign(a) => {
                    stack.push(Node::E(*a.target));
                    stack.push(Node::E(*a.annotation));
                    stack.extend(a.value.map(|v| Node::E(*v)));
                }
                Stmt::For(f) => {
                    stack.push(Node::E(*f.iter));
                    stack.extend(f.body.into_iter().chain(f.orelse).map(Node::S));
                }
                Stmt::AsyncFor(f) => {
                    stack.push(Node::E(*f.iter));
                    stack.extend(f.body.into_iter().chain(f.orelse).map(Node::S));
                }
                Stmt::While(w) => {
                    stack.push(Node::E(*w.test));
                    stack.extend(w.body.into_iter().chain(w.orelse).map(Node::S));
                }
                Stmt::If(i) => {
                    stack.push(Node::E(*i.test));
                    stack.extend(i.body.into_iter().chain(i.orelse).map(Node::S));
                }
                Stmt::With(w) => {
                    exprs(
                        &mut stack,
                        w.items.into_iter().map(|i| i.context_expr).collect(),
                    );
                    stack.extend(w.body.into_iter().map(Node::S));
                }
                Stmt::AsyncWith(w) => {
                    exprs(
                        &mut stack,
                        w.items.into_iter().map(|i| i.context_expr).collect(),
                    );
                    stack.extend(w.body.into_iter().map(Node::S));
                }
                Stmt::Match(m) => {
                    stack.push(Node::E(*m.subject));
                    for c in m.cases {
                        stack.push(Node::P(c.pattern));
                        stack.extend(c.guard.map(|g| Node::E(*g)));
                        stack.extend(c.body.into_iter().map(Node::S));
                    }
                }
                Stmt::Try(t) => {
                    stack.extend(
                        t.body
                            .into_iter()
                            .chain(t.orelse)
                            .chain(t.finalbody)
                            .map(Node::S),
                    );
                    for h in t.handlers {
                        let ast::ExceptHandler::ExceptHandler(h) = h;
                        stack.extend(h.body.into_iter().map(Node::S));
                    }
                }
                Stmt::TryStar(t) => {
                    stack.extend(
                        t.body
                            .into_iter()
                            .chain(t.orelse)
                            .chain(t.finalbody)
                            .map(Node::S),
                    );
                    for h in t.handlers {
                        let ast::ExceptHandler::ExceptHandler(h) = h;
                        stack.extend(h.body.into_iter().map(Node::S));
                    }
                }
                Stmt::Expr(e) => stack.push(Node::E(*e.value)),
                Stmt::Assert(a) => stack.push(Node::E(*a.test)),
                _ => {}
            },
            Node::E(e) => match e {
                Expr::BoolOp(b) => exprs(&mut stack, b.values),
                Expr::NamedExpr(n) => stack.push(Node::E(*n.value)),
                Expr::BinOp(b) => {
                    stack.push(Node::E(*b.left));
                    stack.push(Node::E(*b.right));
                }
                Expr::UnaryOp(u) => stack.push(Node::E(*u.operand)),
                Expr::Lambda(l) => {
                    stack.push(Node::E(*l.body));
                    args(&mut stack, *l.args);
                }
                Expr::IfExp(i) => {
                    stack.push(Node::E(*i.test));
                    stack.push(Node::E(*i.body));
                    stack.push(Node::E(*i.orelse));
                }
                Expr::Dict(d) => {
                    exprs(&mut stack, d.keys.into_iter().flatten().collect());
                    exprs(&mut stack, d.values);
                }
                Expr::Set(s) => exprs(&mut stack, s.elts),
                Expr::ListComp(c) => {
                    stack.push(Node::E(*c.elt));
                    comps(&mut stack, c.generators);
                }
                Expr::SetComp(c) => {
                    stack.push(Node::E(*c.elt));
                    comps(&mut stack, c.generators);
                }
                Expr::GeneratorExp(c) => {
                    stack.push(Node::E(*c.elt));
                    comps(&mut stack, c.generators);
                }
                Expr::DictComp(c) => {
                    stack.push(Node::E(*c.key));
                    stack.push(Node::E(*c.value));
                    comps(&mut stack, c.generators);
                }
                Expr::Await(a) => stack.push(Node::E(*a.value)),
                Expr::Yield(y) => stack.extend(y.value.map(|v| Node::E(*v))),
                Expr::YieldFrom(y) => stack.push(Node::E(*y.value)),
                Expr::Compare(c) => {
                    stack.push(Node::E(*c.left));
                    exprs(&mut stack, c.comparators);
                }
                Expr::Call(c) => {
                    stack.push(Node::E(*c.func));
                    exprs(&mut stack, c.args);
                    exprs(
                        &mut stack,
                        c.keywords.into_iter().map(|k| k.value).collect(),
                    );
                }
                Expr::FormattedValue(f) => {
                    stack.push(Node::E(*f.value));
                    stack.extend(f.format_spec.map(|v| Node::E(*v)));
                }
                Expr::JoinedStr(j) => exprs(&mut stack, j.values),
                Expr::Attribute(a) => stack.push(Node::E(*a.value)),
                Expr::Subscript(s) => {
                    stack.push(Node::E(*s.value));
                    stack.push(Node::E(*s.slice));
                }
                Expr::Starred(s) => stack.push(Node::E(*s.value)),
                Expr::List(l) => exprs(&mut stack, l.elts),
                Expr::Tuple(t) => exprs(&mut stack, t.elts),
                Expr::Slice(s) => {
                    for part in [s.lower, s.upper, s.step].into_iter().flatten() {
                        stack.push(Node::E(*part));
                    }
                }
                Expr::Constant(_) | Expr::Name(_) => {}
            },
            Node::P(p) => match p {
                Pattern::MatchValue(v) => stack.push(Node::E(*v.value)),
                Pattern::MatchSequence(s) => stack.extend(s.patterns.into_iter().map(Node::P)),
                Pattern::MatchMapping(m) => {
                    exprs(&mut stack, m.keys);
                    stack.extend(m.patterns.into_iter().map(Node::P));
                }
                Pattern::MatchClass(c) => {
                    stack.push(Node::E(*c.cls));
                    stack.extend(c.patterns.into_iter().chain(c.kwd_patterns).map(Node::P));
                }
                Pattern::MatchAs(a) => stack.extend(a.pattern.map(|p| Node::P(*p))),
                Pattern::MatchOr(o) => stack.extend(o.patterns.into_iter().map(Node::P)),
                Pattern::MatchSingleton(_) | Pattern::MatchStar(_) => {}
            },
        }
    }
}

fn comps(stack: &mut Vec<Node>, gens: Vec<ast::Comprehension>) {
    for g in gens {
        stack.push(Node::E(g.target));
        stack.push(Node::E(g.iter));
        stack.extend(g.ifs.into_iter().map(Node::E));
    }
}

#[cfg(test)]
mod tests;
