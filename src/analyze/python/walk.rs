//! The Python tree walk: resolves names through imports and aliases, folds
//! constants, follows decoded payloads and shell strings into the other
//! analyzers, and records [`Fact`]s and technique signals.
//!
//! What it must not do: decide anything (rules do), execute anything, or
//! recurse without a bound. Statement and expression nesting is counted
//! against `budget.max_depth`; long operator chains are walked iteratively;
//! the clock is checked every few hundred nodes; payload recursion goes
//! through `budget.nested()`.
//!
//! Name resolution is deliberately simple and flow-insensitive within a
//! scope: module-level statements are walked in order and function bodies
//! are walked after the module body (as Python runs them: after the module
//! defined everything they refer to).
//!
//! Layout: this file holds the walker's state and bookkeeping; each concern
//! is one `impl Walker` block in its own file: `scope` (bindings, deferred
//! function bodies), `stmt` (statements, imports, loops), `expr`
//! (expressions, attribute reads), `names` (name resolution, taint), `call`
//! (call dispatch), `process` (shell and subprocess sinks), `files` (file
//! sinks), `code` (exec/eval and decoded payloads), `strings` (constants that
//! matter), `eval` and `eval_call` (constant folding).

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustpython_parser::ast::Stmt;
use rustpython_parser::text_size::TextRange;

use super::fold::Val;
use super::tables::{self, Taint};
use crate::analyze::{AnalyzeError, Budget, Fact, FactKind, Span};

type R = Result<(), AnalyzeError>;

mod call;
mod code;
mod eval;
mod eval_call;
mod expr;
mod files;
mod names;
mod process;
mod scope;
mod stmt;
mod strings;

/// Maps byte offsets to 1-based line and character columns.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(code: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            code.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// (line, column) of byte `offset`, both 1-based; columns count characters.
    pub fn position(&self, code: &str, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = code
            .get(start..offset)
            .map_or(offset.saturating_sub(start), |s| s.chars().count());
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }
}

/// What a resolved expression refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An imported module (`os`).
    Module,
    /// Something reached from a module or a builtin by attribute (`os.environ`, `os.system`, `eval`).
    Member,
    /// The result of calling a resolved callable (`socket.socket(...)`), and anything reached from it.
    Instance,
}

/// A resolved name: qualified, with where its data came from.
#[derive(Debug, Clone)]
struct Sym {
    qual: String,
    kind: Kind,
    /// For instances: the constant arguments of the constructing call (`Path('/etc/x')`).
    args: Vec<String>,
    taint: Option<Taint>,
}

/// A constant and how it was obtained.
#[derive(Debug, Clone)]
pub struct Folded {
    pub val: Val,
    /// Decoders applied, outermost first (`base64.b64decode`).
    pub steps: Vec<String>,
    /// Built from several fragments (concatenation, join, formatting).
    pub assembled: bool,
    /// Built with techniques that hide text: char codes, reversal, rot13, replace, byte lists.
    pub obfuscated: bool,
}

impl Folded {
    fn plain(val: Val) -> Self {
        Folded {
            val,
            steps: Vec::new(),
            assembled: false,
            obfuscated: false,
        }
    }

    fn absorb(&mut self, other: &Folded) {
        for s in &other.steps {
            if !self.steps.contains(s) {
                self.steps.push(s.clone());
            }
        }
        self.assembled |= other.assembled;
        self.obfuscated |= other.obfuscated;
    }

    fn tricky(&self) -> bool {
        self.assembled || self.obfuscated || !self.steps.is_empty()
    }
}

#[derive(Debug, Clone)]
enum Binding {
    Sym(Sym),
    Const(Folded),
    Taint(Taint),
    /// Bound to something the analyzer does not track (shadows builtins and modules).
    Local,
}

#[derive(Debug, Clone, Default)]
struct Frame {
    vars: HashMap<String, Binding>,
    globals: HashSet<String>,
}

/// A function body, walked after the enclosing scope finished.
struct Deferred<'a> {
    name: Option<String>,
    params: Vec<String>,
    body: &'a [Stmt],
    outer: Vec<Frame>,
}

/// How often (in nodes) the deadline is checked.
const CLOCK_EVERY: u32 = 256;
/// Folding recursion bound, independent of the tree-depth budget.
const FOLD_DEPTH: usize = 48;
/// Longest argument text kept in a fact.
const ARG_MAX: usize = 2048;
/// Elements beyond which a constant allocation is treated as a memory bomb.
const HUGE_ALLOC: i64 = 256 * 1024 * 1024;

pub struct Walker<'a> {
    code: &'a str,
    lines: &'a LineIndex,
    budget: &'a Budget,
    frames: Vec<Frame>,
    stars: Vec<String>,
    facts: Vec<Fact>,
    pending: Vec<Deferred<'a>>,
    depth: usize,
    ticks: u32,
    /// Enclosing loops that never end (no break/return/raise).
    unbounded_loops: usize,
    /// Function whose body is being walked, for self-recursion.
    current_fn: Option<String>,
    fn_recurses: bool,
    fn_spawns: Vec<Span>,
    spawning_fns: HashSet<String>,
    /// Calls to user functions made inside unbounded loops.
    loop_calls: Vec<(String, Span)>,
    /// A socket was connected (first place seen).
    connected: Option<Span>,
    /// Standard streams wired to something: dup2 onto 0/1/2, stdio keywords, pty.spawn.
    wired: Vec<Span>,
    /// Paths that network data was saved to.
    downloaded: Vec<String>,
    /// A value went past the analysis memory bound in the current statement
    /// (set where folding has no `&mut`, reported by `walk_stmt`).
    bounded: std::cell::Cell<bool>,
    /// `analysis-bound` signals emitted so far (capped).
    bound_reports: usize,
}

impl<'a> Walker<'a> {
    pub fn new(code: &'a str, lines: &'a LineIndex, budget: &'a Budget) -> Self {
        Walker {
            code,
            lines,
            budget,
            frames: vec![Frame::default()],
            stars: Vec::new(),
            facts: Vec::new(),
            pending: Vec::new(),
            depth: 0,
            ticks: 0,
            unbounded_loops: 0,
            current_fn: None,
            fn_recurses: false,
            fn_spawns: Vec::new(),
            spawning_fns: HashSet::new(),
            loop_calls: Vec::new(),
            connected: None,
            wired: Vec::new(),
            downloaded: Vec::new(),
            bounded: std::cell::Cell::new(false),
            bound_reports: 0,
        }
    }

    /// Walks a module and returns its facts, de-duplicated.
    pub fn run(mut self, body: &'a [Stmt]) -> Result<Vec<Fact>, AnalyzeError> {
        self.walk_body(body)?;
        while let Some(d) = self.pending.pop() {
            self.walk_deferred(d)?;
        }
        for (name, span) in std::mem::take(&mut self.loop_calls) {
            if self.spawning_fns.contains(&name) {
                self.signal("fork-bomb", vec![name], span);
            }
        }
        if let (Some(_), Some(span)) = (self.connected, self.wired.first().copied()) {
            self.signal("reverse-shell", vec!["socket-stdio".into()], span);
        }
        self.harvest_then_upload();
        // Identity by hash: cloning every fact into a set costs more than the walk.
        let mut seen = HashSet::with_capacity(self.facts.len());
        let mut out = Vec::with_capacity(self.facts.len());
        for f in self.facts {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (f.kind, &f.name, f.span, &f.args, &f.via).hash(&mut h);
            if seen.insert(h.finish()) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Data flow the walk cannot follow (through user functions, buffers
    /// filled by callbacks): a program that harvests the whole environment
    /// or captures keystrokes, screens or browser secrets, and also uploads,
    /// is exfiltration. Nothing else in such a program explains the upload.
    fn harvest_then_upload(&mut self) {
        if self
            .facts
            .iter()
            .any(|f| f.kind == FactKind::Signal && f.name == "exfiltration")
        {
            return;
        }
        let harvested = self.facts.iter().any(|f| {
            (f.kind == FactKind::Signal && f.name == "env-harvest")
                || (f.kind == FactKind::Import && tables::is_capture_module(&f.name))
        });
        if !harvested {
            return;
        }
        let upload = self
            .facts
            .iter()
            .find(|f| f.kind == FactKind::Call && tables::is_upload_call(&f.name))
            .map(|f| (f.name.clone(), f.span));
        if let Some((name, span)) = upload {
            self.signal("exfiltration", vec![format!("harvest + {name}")], span);
        }
    }

    fn span(&self, range: TextRange) -> Span {
        let (l1, c1) = self.lines.position(self.code, usize::from(range.start()));
        let (l2, c2) = self.lines.position(self.code, usize::from(range.end()));
        Span::new(l1, c1, l2, c2)
    }

    fn tick(&mut self) -> R {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(CLOCK_EVERY) && self.budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        Ok(())
    }

    fn enter(&mut self) -> R {
        self.depth += 1;
        if self.depth > self.budget.max_depth {
            return Err(AnalyzeError::TooDeep {
                limit: self.budget.max_depth,
            });
        }
        self.tick()
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn push(&mut self, kind: FactKind, name: impl Into<String>, args: Vec<String>, span: Span) {
        let mut fact = Fact::new(kind, name, span).with_args(args);
        // Facts are kept to the end of the analysis: paid for like bindings.
        if !self.budget.admit(fact.size()) {
            fact.shrink();
            self.bounded.set(true);
        }
        self.facts.push(fact);
    }

    /// Reports that a value went past the analysis memory bound at `span`.
    fn report_bound(&mut self, span: Span) {
        const MAX_REPORTS: usize = 64;
        if self.bound_reports < MAX_REPORTS {
            self.bound_reports += 1;
            self.facts
                .push(Fact::new(FactKind::Signal, "analysis-bound", span));
        }
    }

    /// Whether folding may keep or copy a value of `bytes`; flags the bound when not.
    fn pay(&self, bytes: usize) -> bool {
        let ok = self.budget.admit(bytes);
        if !ok {
            self.bounded.set(true);
        }
        ok
    }

    fn signal(&mut self, id: &str, args: Vec<String>, span: Span) {
        self.push(FactKind::Signal, id, args, span);
    }
}
