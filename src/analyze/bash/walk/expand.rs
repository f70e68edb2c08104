//! Word evaluation: quote removal, ANSI-C strings, concatenations, command
//! and process substitutions, and field splitting of unquoted values. The
//! result is a `Word` whose known parts are constants and whose taint says
//! where unknown parts came from. `${...}` operators live in `parameter`.

use tree_sitter::Node;

use super::{named_children, span_of, Analyzer, Ctx, Input, Output, R};
use crate::analyze::bash::words::{self, Word};

impl<'s> Analyzer<'s> {
    /// The value of a word as an unquoted argument.
    pub fn word(&mut self, node: Node<'s>) -> R<Word> {
        self.word_q(node, false)
    }

    /// The value of a word; `quoted` means inside double quotes or an
    /// assignment value (no field splitting).
    pub fn word_q(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        self.enter()?;
        let r = if self.opaque.contains(&(node.start_byte(), node.end_byte())) {
            self.generic(node, &Ctx::default()).map(|_| Word::unknown())
        } else {
            self.word_inner(node, quoted)
        };
        self.leave();
        let mut w = r?;
        // Expansions were paid for where they copied; a word assembled from
        // them (or from many literal pieces) is only capped in size.
        if w.cost() > self.budget.max_value_bytes {
            w.forget();
        }
        if w.bounded {
            w.bounded = false;
            self.report_bound(span_of(node));
        }
        Ok(w)
    }

    pub(super) fn word_inner(&mut self, node: Node<'s>, quoted: bool) -> R<Word> {
        let text = self.text(node);
        Ok(match node.kind() {
            "word" | "number" | "brace_expression" | "extglob_pattern" | "regex"
            | "variable_name" | "test_operator" | "file_descriptor" => {
                if quoted || node.kind() != "word" {
                    Word::lit(text)
                } else {
                    let (t, hid) = words::unescape_unquoted(text);
                    let mut w = Word::lit(t);
                    // One leading backslash (`\ls`) is the usual way to
                    // bypass an alias, not a hidden name.
                    let alias_bypass = text
                        .trim_start_matches(['\r', '\n'])
                        .strip_prefix('\\')
                        .is_some_and(|rest| !rest.contains('\\'));
                    w.obfuscated = hid && !alias_bypass;
                    w
                }
            }
            "raw_string" => {
                let inner = text
                    .strip_prefix('\'')
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                let mut w = Word::lit(inner);
                w.quoted = true;
                w
            }
            "ansi_c_string" => {
                let inner = text
                    .strip_prefix("$'")
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                let mut w = Word::lit(words::decode_ansi_c(inner));
                w.quoted = true;
                w.obfuscated = inner.contains('\\');
                w
            }
            "string" | "translated_string" => self.dq_string(node)?,
            "concatenation" => {
                let mut w = Word::default();
                let kids = named_children(node);
                let mut quotes = false;
                let mut plain = false;
                let mut pos = node.start_byte();
                let mut pieces = Vec::with_capacity(kids.len());
                for c in &kids {
                    if c.start_byte() > pos {
                        let gap = self.src.get(pos..c.start_byte()).unwrap_or("");
                        pieces.push((Some(gap.to_string()), false, false));
                        w.push_lit(gap);
                    }
                    let v = self.word_q(*c, quoted)?;
                    match c.kind() {
                        // Quoting an expansion (`prefix_"$x"`) is ordinary;
                        // quoting letters of a name (`"w"get`) is not.
                        "raw_string" | "ansi_c_string" => quotes = true,
                        "string" => {
                            quotes |= named_children(*c)
                                .iter()
                                .all(|k| k.kind() == "string_content")
                        }
                        "word" => plain = true,
                        _ => {}
                    }
                    pieces.push((v.constant(), v.expanded, v.taint.spliced));
                    w.append(v);
                    pos = c.end_byte();
                }
                if quotes && plain {
                    w.obfuscated = true;
                }
                (w.expanded, w.taint.spliced) = words::name_pieces(&pieces);
                w
            }
            "simple_expansion" => {
                let name = text.trim_start_matches('$');
                self.lookup(name, quoted)
            }
            "expansion" => {
                let mut w = self.expansion(node, quoted)?;
                w.forwarded |= text.starts_with("${@") || text.starts_with("${*");
                w
            }
            "command_substitution" => {
                let mut ctx = Ctx::default();
                ctx.stdin.present = false;
                let mut out = Output {
                    text: Some(String::new()),
                    ..Output::default()
                };
                for c in named_children(node) {
                    if c.kind() == "file_redirect" {
                        // `$(< file)` reads the file.
                        let mut redirs = Vec::new();
                        let mut input = Input::default();
                        self.parse_redirect(c, &mut redirs, &mut input)?;
                        self.apply_redirects(&redirs, &Output::default(), span_of(c), false);
                        out.text = input.text;
                        out.taint.merge(&input.taint);
                        continue;
                    }
                    let o = self.stmt(c, &ctx)?;
                    out.taint.merge(&o.taint);
                    out.text = match (out.text.take(), o.text) {
                        (Some(a), Some(b)) if self.keep(a.len() + b.len(), span_of(c)) => {
                            Some(a + &b)
                        }
                        _ => None,
                    };
                }
                let mut w = match out.text {
                    Some(t) => {
                        let t = t.trim_end_matches('\n').to_string();
                        if quoted {
                            Word::lit(t)
                        } else {
                            split_value(&t)
                        }
                    }
                    None => Word::unknown(),
                };
                w.expanded = true;
                w.taint = out.taint;
                w
            }
            "process_substitution" => {
                let mut out = Output::default();
                for c in named_children(node) {
                    let o = self.stmt(c, &Ctx::default())?;
                    out.taint.merge(&o.taint);
                    out.net |= o.net;
                }
                let mut w = Word::unknown();
                w.procsub = true;
                w.taint = out.taint;
                w.taint.download |= out.net;
                w
            }
            "arithmetic_expansion" => {
                self.generic(node, &Ctx::default())?;
                Word::unknown()
            }
            _ => {
                if node.named_child_count() > 0 {
                    self.generic(node, &Ctx::default())?;
                }
                Word::lit(text)
            }
        })
    }

    pub(super) fn dq_string(&mut self, node: Node<'s>) -> R<Word> {
        let mut w = Word {
            quoted: true,
            ..Word::default()
        };
        w.push_lit("");
        let start = node.start_byte() + usize::from(self.text(node).starts_with('$')) + 1;
        let end = node.end_byte().saturating_sub(1).max(start);
        let mut pos = start;
        let mut pieces = Vec::new();
        for c in named_children(node) {
            if c.kind() == "string" {
                let v = self.dq_string(c)?;
                pieces.push((v.constant(), v.expanded, v.taint.spliced));
                w.append(v);
                pos = c.end_byte();
                continue;
            }
            if c.start_byte() > pos {
                let gap = words::unescape_dquote(self.src.get(pos..c.start_byte()).unwrap_or(""));
                pieces.push((Some(gap.clone()), false, false));
                w.push_lit(&gap);
            }
            match c.kind() {
                "string_content" => {
                    let lit = words::unescape_dquote(self.text(c));
                    pieces.push((Some(lit.clone()), false, false));
                    w.push_lit(&lit);
                }
                _ => {
                    let v = self.word_q(c, true)?;
                    pieces.push((v.constant(), v.expanded, v.taint.spliced));
                    w.append(v);
                }
            }
            pos = c.end_byte();
        }
        if end > pos {
            let tail = words::unescape_dquote(self.src.get(pos..end).unwrap_or(""));
            pieces.push((Some(tail.clone()), false, false));
            w.push_lit(&tail);
        }
        (w.expanded, w.taint.spliced) = words::name_pieces(&pieces);
        w.quoted = true;
        Ok(w)
    }
}

/// An unquoted expansion's value with whitespace turned into field separators.
pub(in crate::analyze::bash) fn split_value(v: &str) -> Word {
    let mut w = Word::default();
    let mut first = true;
    for piece in v.split([' ', '\t', '\n']) {
        if !first {
            w.push_split();
        }
        first = false;
        w.push_lit(piece);
    }
    if w.parts.is_empty() {
        w.push_lit("");
    }
    w.expanded = true;
    w
}
