//! Prints a brush-parser syntax tree back as Bash that tree-sitter-bash reads,
//! with a map from every byte of the printed text to the original source.
//!
//! It owns the canonical spelling only: structure is printed in the forms the
//! tree-sitter grammar knows (`for x in ...; do ... done`, a function body in
//! braces, a newline before every closing keyword, `test` for `[`, `;;` after
//! every case item, `<` onto a process substitution), and every word is copied
//! from the source byte for byte, so names, arguments and spans stay those of
//! the script. A word in `opaque` is printed as a double-quoted placeholder
//! that keeps only its command substitutions, which still run and are still
//! analysed. It never judges the script and never drops a command: every
//! command in the tree is printed.

use std::ops::Range;

use brush_parser::ast;
use brush_parser::ast::SourceLocation;

/// One printed piece: `len` bytes at `out` came from `orig` (byte for byte
/// when `exact`, otherwise all of them stand for the one position `orig`).
#[derive(Debug, Clone, Copy)]
struct Seg {
    out: usize,
    len: usize,
    orig: usize,
    exact: bool,
}

/// Maps offsets of the printed text back to the original source.
#[derive(Debug, Default)]
pub(super) struct OffsetMap {
    segs: Vec<Seg>,
}

impl OffsetMap {
    /// The original byte offset for a printed byte offset.
    pub(super) fn to_orig(&self, out: usize) -> usize {
        let i = self.segs.partition_point(|s| s.out <= out);
        match i.checked_sub(1).and_then(|i| self.segs.get(i)) {
            Some(s) if s.exact => s.orig + (out - s.out).min(s.len),
            Some(s) => s.orig,
            None => 0,
        }
    }
}

/// A word as printed: where it is in the output and in the source.
#[derive(Debug, Clone)]
pub(super) struct PrintedWord {
    pub out: Range<usize>,
    pub orig: Range<usize>,
}

/// The printed program.
#[derive(Debug, Default)]
pub(super) struct Rendered {
    pub text: String,
    pub map: OffsetMap,
    pub words: Vec<PrintedWord>,
    /// Source offsets of command substitutions that brush-parser could not
    /// read either: they may hide a command, so the caller must not pass them.
    pub unreadable: Vec<usize>,
    /// Output ranges of the placeholders (`"..."` strings the walker must
    /// treat as unknown words).
    pub opaque: Vec<Range<usize>>,
}

/// Converts brush positions (character indexes into the text brush parsed,
/// which starts at byte `base` of the source) to source byte offsets.
struct Chars {
    /// Byte offset of each character, plus the end; `None` for ASCII text.
    starts: Option<Vec<usize>>,
    len: usize,
    base: usize,
}

impl Chars {
    fn new(text: &str, base: usize) -> Self {
        let starts = (!text.is_ascii()).then(|| {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect()
        });
        Chars {
            starts,
            len: text.len(),
            base,
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.base
            + match &self.starts {
                None => char_index.min(self.len),
                Some(v) => v.get(char_index).copied().unwrap_or(self.len),
            }
    }
}

/// Parses `text` with brush-parser (bash syntax, extglob on, as bash reads
/// a script).
pub(super) fn parse(text: &str) -> Result<ast::Program, brush_parser::ParseError> {
    let options = brush_parser::ParserOptions::default();
    brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), &options).parse_program()
}

/// Prints `program`, whose source is `src`; words whose source range is in
/// `opaque` become placeholders.
pub(super) fn render(src: &str, program: &ast::Program, opaque: &[Range<usize>]) -> Rendered {
    let mut p = Printer {
        src,
        chars: Chars::new(src, 0),
        out: Rendered::default(),
        anchor: 0,
        heredocs: Vec::new(),
        opaque,
        heredoc_seq: 0,
    };
    for list in &program.complete_commands {
        p.list(list);
    }
    p.newline();
    p.out
}

struct Printer<'a> {
    src: &'a str,
    chars: Chars,
    out: Rendered,
    /// Source position that synthesised text stands for.
    anchor: usize,
    /// Here-documents whose bodies follow the next newline.
    heredocs: Vec<PendingDoc>,
    opaque: &'a [Range<usize>],
    heredoc_seq: usize,
}

/// A here-document body waiting for the end of its line.
struct PendingDoc {
    delim: String,
    body: String,
    /// Where the body starts in the source, when it is copied byte for byte.
    exact_at: Option<usize>,
}

impl Printer<'_> {
    fn range(&self, span: &brush_parser::SourceSpan) -> Range<usize> {
        self.chars.byte(span.start.index)..self.chars.byte(span.end.index)
    }

    fn at(&mut self, node: &impl SourceLocation) {
        if let Some(span) = node.location() {
            self.anchor = self.chars.byte(span.start.index);
        }
    }

    fn push(&mut self, text: &str, orig: usize, exact: bool) {
        if text.is_empty() {
            return;
        }
        self.out.map.segs.push(Seg {
            out: self.out.text.len(),
            len: text.len(),
            orig,
            exact,
        });
        self.out.text.push_str(text);
    }

    /// Synthesised text, standing for the current anchor.
    fn lit(&mut self, text: &str) {
        self.push(text, self.anchor, false);
    }

    fn newline(&mut self) {
        self.lit("\n");
        for doc in std::mem::take(&mut self.heredocs) {
            match doc.exact_at {
                Some(at) => self.push(&doc.body, at, true),
                None => self.lit(&doc.body),
            }
            if !doc.body.is_empty() && !doc.body.ends_with('\n') {
                self.lit("\n");
            }
            self.lit(&doc.delim);
            self.lit("\n");
        }
    }

    // ------------------------------------------------------------ lists

    fn list(&mut self, list: &ast::CompoundList) {
        if list.0.is_empty() {
            self.lit(":");
            self.newline();
        }
        for item in &list.0 {
            self.and_or(&item.0);
            if matches!(item.1, ast::SeparatorOperator::Async) {
                self.lit(" &");
            }
            self.newline();
        }
    }

    fn and_or(&mut self, list: &ast::AndOrList) {
        self.pipeline(&list.first);
        for next in &list.additional {
            let (op, p) = match next {
                ast::AndOr::And(p) => (" && ", p),
                ast::AndOr::Or(p) => (" || ", p),
            };
            self.lit(op);
            self.pipeline(p);
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        self.at(p);
        match p.timed {
            Some(ast::PipelineTimed::Timed(_)) => self.lit("time "),
            Some(ast::PipelineTimed::TimedWithPosixOutput(_)) => self.lit("time -p "),
            None => {}
        }
        if p.bang {
            self.lit("! ");
        }
        for (i, c) in p.seq.iter().enumerate() {
            if i > 0 {
                self.lit(" | ");
            }
            self.command(c);
        }
    }

    // ------------------------------------------------------------ commands

    fn command(&mut self, c: &ast::Command) {
        self.at(c);
        match c {
            ast::Command::Simple(s) => self.simple(s),
            ast::Command::Compound(cc, redirects) => {
                self.compound(cc);
                self.redirects(redirects.as_ref());
            }
            ast::Command::Function(f) => {
                // Not a placeholder candidate: the grammar reads no quoted
                // function name.
                let words = self.out.words.len();
                self.word(&f.fname);
                self.out.words.truncate(words);
                self.lit("() ");
                let ast::FunctionBody(body, redirects) = &f.body;
                // tree-sitter reads only a compound statement as a body;
                // bash takes any compound command.
                if matches!(body, ast::CompoundCommand::BraceGroup(_)) {
                    self.compound(body);
                } else {
                    self.lit("{\n");
                    self.compound(body);
                    self.newline();
                    self.lit("}");
                }
                self.redirects(redirects.as_ref());
            }
            ast::Command::ExtendedTest(t, redirects) => {
                self.at(t);
                self.lit("[[ ");
                self.test(&t.expr);
                self.lit(" ]]");
                self.redirects(redirects.as_ref());
            }
        }
    }

    fn test(&mut self, e: &ast::ExtendedTestExpr) {
        match e {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.test(a);
                self.lit(if matches!(e, ast::ExtendedTestExpr::And(..)) {
                    " && "
                } else {
                    " || "
                });
                self.test(b);
            }
            ast::ExtendedTestExpr::Not(x) => {
                self.lit("! ");
                self.test(x);
            }
            ast::ExtendedTestExpr::Parenthesized(x) => {
                self.lit("( ");
                self.test(x);
                self.lit(" )");
            }
            ast::ExtendedTestExpr::UnaryTest(pred, w) => {
                self.lit(&format!("{pred} "));
                self.word(w);
            }
            ast::ExtendedTestExpr::BinaryTest(pred, l, r) => {
                self.word(l);
                self.lit(&format!(" {pred} "));
                self.word(r);
            }
        }
    }

    fn compound(&mut self, cc: &ast::CompoundCommand) {
        self.at(cc);
        match cc {
            ast::CompoundCommand::Arithmetic(a) => {
                // Printed from the source, so that a part tree-sitter cannot
                // read is found and made opaque like a word.
                let r = self.range(&a.loc);
                let start = self.out.text.len();
                if self.is_opaque(&r) {
                    self.lit(": ");
                    self.placeholder(r.clone());
                } else {
                    self.lit(&format!("(({}))", a.expr.value));
                }
                self.out.words.push(PrintedWord {
                    out: start..self.out.text.len(),
                    orig: r,
                });
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                let part = |e: &Option<ast::UnexpandedArithmeticExpr>| {
                    e.as_ref().map(|x| x.value.clone()).unwrap_or_default()
                };
                self.lit(&format!(
                    "for (({}; {}; {})); do\n",
                    part(&f.initializer),
                    part(&f.condition),
                    part(&f.updater)
                ));
                self.list(&f.body.list);
                self.lit("done");
            }
            ast::CompoundCommand::BraceGroup(b) => {
                self.lit("{\n");
                self.list(&b.list);
                self.lit("}");
            }
            ast::CompoundCommand::Subshell(s) => {
                self.lit("(\n");
                self.list(&s.list);
                self.lit(")");
            }
            ast::CompoundCommand::ForClause(f) => {
                self.lit(&format!("for {} in", f.variable_name));
                match &f.values {
                    // `for x; do` iterates over the positional parameters.
                    None => self.lit(" \"$@\""),
                    Some(values) => {
                        for v in values {
                            self.lit(" ");
                            self.word(v);
                        }
                    }
                }
                self.at(f);
                self.lit("; do\n");
                self.list(&f.body.list);
                self.lit("done");
            }
            ast::CompoundCommand::CaseClause(c) => {
                self.lit("case ");
                self.word(&c.value);
                self.lit(" in\n");
                for item in &c.cases {
                    for (i, pat) in item.patterns.iter().enumerate() {
                        if i > 0 {
                            self.lit("|");
                        }
                        self.word(pat);
                    }
                    self.lit(")\n");
                    if let Some(body) = &item.cmd {
                        self.list(body);
                    }
                    // Every body is analysed whatever the fall-through, so
                    // `;&` and `;;&` read as `;;`.
                    self.lit(";;\n");
                }
                self.lit("esac");
            }
            ast::CompoundCommand::IfClause(i) => {
                self.lit("if ");
                self.list(&i.condition);
                self.lit("then\n");
                self.list(&i.then);
                for e in i.elses.iter().flatten() {
                    match &e.condition {
                        Some(cond) => {
                            self.lit("elif ");
                            self.list(cond);
                            self.lit("then\n");
                        }
                        None => self.lit("else\n"),
                    }
                    self.list(&e.body);
                }
                self.lit("fi");
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                let kw = if matches!(cc, ast::CompoundCommand::WhileClause(_)) {
                    "while "
                } else {
                    "until "
                };
                self.lit(kw);
                self.list(&w.0);
                self.lit("do\n");
                self.list(&w.1.list);
                self.lit("done");
            }
            // The grammar has no `coproc`; the body is what runs.
            ast::CompoundCommand::Coprocess(c) => self.command(&c.body),
        }
    }

    fn simple(&mut self, s: &ast::SimpleCommand) {
        let mut items: Vec<&ast::CommandPrefixOrSuffixItem> = Vec::new();
        if let Some(p) = &s.prefix {
            items.extend(p.0.iter());
        }
        let name = s.word_or_name.as_ref();
        let suffix: Vec<&ast::CommandPrefixOrSuffixItem> =
            s.suffix.iter().flat_map(|x| x.0.iter()).collect();
        let mut first = true;
        let mut sep = |p: &mut Self| {
            if !first {
                p.lit(" ");
            }
            first = false;
        };
        // Redirections alone (`> file`, `<<EOF`) are a command to bash, not
        // to the grammar; `:` with them does the same.
        if name.is_none()
            && items
                .iter()
                .chain(suffix.iter())
                .all(|it| matches!(it, ast::CommandPrefixOrSuffixItem::IoRedirect(_)))
        {
            sep(self);
            self.lit(":");
        }
        for it in items {
            sep(self);
            self.item(it);
        }
        // `[ ... ]` is the `test` builtin; tree-sitter only reads it as a
        // well-formed test expression.
        let bracket = name.is_some_and(|n| n.value == "[");
        if let Some(n) = name {
            sep(self);
            if bracket {
                self.at(n);
                self.lit("test");
            } else {
                self.word(n);
            }
        }
        let last_word = suffix
            .iter()
            .rposition(|it| matches!(it, ast::CommandPrefixOrSuffixItem::Word(_)));
        for (i, it) in suffix.iter().enumerate() {
            if bracket && Some(i) == last_word {
                if let ast::CommandPrefixOrSuffixItem::Word(w) = it {
                    if w.value == "]" {
                        continue;
                    }
                }
            }
            sep(self);
            self.item(it);
        }
    }

    fn item(&mut self, it: &ast::CommandPrefixOrSuffixItem) {
        match it {
            ast::CommandPrefixOrSuffixItem::Word(w) => self.word(w),
            ast::CommandPrefixOrSuffixItem::AssignmentWord(a, w) => self.assignment(a, w),
            ast::CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r),
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                self.procsub(kind, sub)
            }
        }
    }

    fn procsub(&mut self, kind: &ast::ProcessSubstitutionKind, sub: &ast::SubshellCommand) {
        self.at(sub);
        self.lit(match kind {
            ast::ProcessSubstitutionKind::Read => "<(",
            ast::ProcessSubstitutionKind::Write => ">(",
        });
        self.list(&sub.list);
        self.lit(")");
    }

    fn assignment(&mut self, a: &ast::Assignment, w: &ast::Word) {
        let range = w.loc.as_ref().map(|s| self.range(s));
        match range {
            Some(r) if self.is_opaque(&r) => {
                self.anchor = r.start;
                let out_start = self.out.text.len();
                let name = match &a.name {
                    ast::AssignmentName::VariableName(n) => n.clone(),
                    ast::AssignmentName::ArrayElementName(n, i) => format!("{n}[{i}]"),
                };
                let op = if a.append { "+=" } else { "=" };
                self.lit(&format!("{name}{op}"));
                // The value's text starts after the first `=` of the word.
                let start = self
                    .src
                    .get(r.clone())
                    .and_then(|t| t.find('='))
                    .map(|i| r.start + i + 1)
                    .unwrap_or(r.start);
                let array = matches!(a.value, ast::AssignmentValue::Array(_));
                if array {
                    self.lit("(");
                }
                self.placeholder(start..r.end);
                if array {
                    self.lit(")");
                }
                self.out.words.push(PrintedWord {
                    out: out_start..self.out.text.len(),
                    orig: r,
                });
            }
            _ => self.word(w),
        }
    }

    fn redirects(&mut self, list: Option<&ast::RedirectList>) {
        for r in list.iter().flat_map(|l| l.0.iter()) {
            self.lit(" ");
            self.redirect(r);
        }
    }

    fn redirect(&mut self, r: &ast::IoRedirect) {
        let fd = |fd: &Option<ast::IoFd>| fd.map(|n| n.to_string()).unwrap_or_default();
        match r {
            ast::IoRedirect::File(n, kind, target) => {
                self.lit(&fd(n));
                match target {
                    ast::IoFileRedirectTarget::Filename(w) => {
                        self.lit(&format!("{kind}"));
                        self.word(w);
                    }
                    ast::IoFileRedirectTarget::Fd(t) => self.lit(&format!("{kind}{t}")),
                    ast::IoFileRedirectTarget::Duplicate(w) => {
                        self.lit(&format!("{kind}"));
                        self.word(w);
                    }
                    ast::IoFileRedirectTarget::ProcessSubstitution(pk, sub) => {
                        // The grammar reads only `<` or `>` before a process
                        // substitution; which file mode bash opens it with
                        // changes nothing the analysis looks at.
                        let op = match kind {
                            ast::IoFileRedirectKind::Read
                            | ast::IoFileRedirectKind::ReadAndWrite => "< ",
                            _ => "> ",
                        };
                        self.lit(op);
                        self.procsub(pk, sub);
                    }
                }
            }
            ast::IoRedirect::OutputAndError(w, append) => {
                self.lit(if *append { "&>>" } else { "&>" });
                self.word(w);
            }
            ast::IoRedirect::HereString(n, w) => {
                self.lit(&format!("{}<<< ", fd(n)));
                self.word(w);
            }
            ast::IoRedirect::HereDocument(n, doc) => {
                // A delimiter of our own: bash's may be any word, quoted in
                // any way, and only quoting matters (expansion or not).
                self.heredoc_seq += 1;
                let delim = format!("CORDON_HEREDOC_{}", self.heredoc_seq);
                let dash = if doc.remove_tabs { "-" } else { "" };
                if doc.requires_expansion {
                    self.lit(&format!("{}<<{dash}{delim}", fd(n)));
                } else {
                    self.lit(&format!("{}<<{dash}'{delim}'", fd(n)));
                }
                let range = doc.doc.loc.as_ref().map(|s| self.range(s));
                let exact_at = range
                    .filter(|r| self.src.get(r.clone()) == Some(doc.doc.value.as_str()))
                    .map(|r| r.start);
                self.heredocs.push(PendingDoc {
                    delim,
                    body: doc.doc.value.clone(),
                    exact_at,
                });
            }
        }
    }

    // ------------------------------------------------------------ words

    fn is_opaque(&self, r: &Range<usize>) -> bool {
        self.opaque.iter().any(|o| o == r)
    }

    fn word(&mut self, w: &ast::Word) {
        let range = w.loc.as_ref().map(|s| self.range(s));
        let start = self.out.text.len();
        match range {
            Some(r) if self.is_opaque(&r) => {
                self.anchor = r.start;
                self.placeholder(r.clone());
                self.out.words.push(PrintedWord {
                    out: start..self.out.text.len(),
                    orig: r,
                });
            }
            Some(r) if self.src.get(r.clone()) == Some(w.value.as_str()) => {
                self.push(&w.value, r.start, true);
                self.anchor = r.end;
                self.out.words.push(PrintedWord {
                    out: start..self.out.text.len(),
                    orig: r,
                });
            }
            Some(r) => {
                self.anchor = r.start;
                self.lit(&w.value);
                self.out.words.push(PrintedWord {
                    out: start..self.out.text.len(),
                    orig: r,
                });
            }
            None => self.lit(&w.value),
        }
    }

    /// `"___$(cmd)___"`: the source range with everything but its command
    /// substitutions blanked (newlines kept, so lines still count).
    fn placeholder(&mut self, r: Range<usize>) {
        let text = self.src.get(r.clone()).unwrap_or("");
        let start = self.out.text.len();
        self.lit("\"");
        let mut pos = 0;
        for kept in substitutions(text) {
            self.blank(text.get(pos..kept.start).unwrap_or(""), r.start + pos);
            self.substitution(text.get(kept.clone()).unwrap_or(""), r.start + kept.start);
            pos = kept.end;
        }
        self.blank(text.get(pos..).unwrap_or(""), r.start + pos);
        self.lit("\"");
        let end = self.out.text.len();
        self.out.opaque.push(start..end);
    }

    /// A command substitution kept in a placeholder: its content is a
    /// program of its own, printed the same way (it may be why the word was
    /// unreadable). Inside backquotes a backslash before `$`, `` ` `` or `\`
    /// only quotes it; such content is printed from its unescaped text, all
    /// of it standing for the substitution's position.
    fn substitution(&mut self, text: &str, at: usize) {
        if let Some(t) = text.strip_prefix("$(").and_then(|t| t.strip_suffix(')')) {
            self.nested(t, at + 2, at, text);
            return;
        }
        let Some(t) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) else {
            self.out.unreadable.push(at);
            self.push(text, at, true);
            return;
        };
        let unescaped = unescape_backquoted(t);
        if unescaped == t {
            self.nested(t, at + 1, at, text);
            return;
        }
        match parse(&unescaped) {
            Ok(program) => {
                let inner = render(&unescaped, &program, &[]);
                self.anchor = at;
                self.lit("$(\n");
                self.lit(&inner.text);
                self.lit(")");
                if !inner.unreadable.is_empty() {
                    self.out.unreadable.push(at);
                }
            }
            Err(_) => {
                self.out.unreadable.push(at);
                self.push(text, at, true);
            }
        }
    }

    /// Prints `inner`, the source text at `inner_at`, as a `$(...)`.
    fn nested(&mut self, inner: &str, inner_at: usize, at: usize, text: &str) {
        match parse(inner) {
            Ok(program) => {
                self.anchor = at;
                // A newline keeps `$( (cmd) )` from reading as `$((`.
                self.lit("$(\n");
                let outer = std::mem::replace(&mut self.chars, Chars::new(inner, inner_at));
                let pending = std::mem::take(&mut self.heredocs);
                for list in &program.complete_commands {
                    self.list(list);
                }
                self.newline();
                self.heredocs = pending;
                self.chars = outer;
                self.anchor = at;
                self.lit(")");
            }
            Err(_) => {
                self.out.unreadable.push(at);
                self.push(text, at, true);
            }
        }
    }

    fn blank(&mut self, text: &str, orig: usize) {
        let b: String = text
            .chars()
            .map(|c| if c == '\n' { '\n' } else { '_' })
            .collect();
        self.push(&b, orig, false);
    }
}

/// The command text of a backquoted substitution: `\$`, `` \` `` and `\\`
/// lose their backslash, every other backslash stays.
fn unescape_backquoted(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if matches!(n, '$' | '`' | '\\') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Byte ranges of the `$(...)` and `` `...` `` command substitutions in a
/// word's text (outermost only; `$((` is arithmetic and is looked into).
/// Single quotes outside double quotes hide what they hold, as in bash.
pub(super) fn substitutions(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut dq = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' if !dq => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                dq = !dq;
                i += 1;
            }
            b'$' if b.get(i + 1) == Some(&b'(') && b.get(i + 2) == Some(&b'(') => i += 3,
            b'$' if b.get(i + 1) == Some(&b'(') => {
                let end = close_paren(b, i + 2);
                out.push(i..end);
                i = end;
            }
            b'`' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'`' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                out.push(i..end);
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// The end (exclusive) of a `$(` whose content starts at `i`: the matching
/// `)` outside quotes, or the end of the text.
fn close_paren(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1usize;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}
