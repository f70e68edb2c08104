//! Redirections and the files they touch: `>`/`>>`/`<`, heredocs and
//! here-strings, `/dev/tcp` sockets and their file descriptors, the table of
//! files the script wrote (so `bash x.sh` can be traced back to its content),
//! and the signals for sensitive paths. It does not decide what a command
//! does with its input; `commands` does.

use tree_sitter::Node;

use super::{
    fielded_children, named_children, span_of, Analyzer, Ctx, FileInfo, Input, Output, Redir, R,
};
use crate::analyze::bash::paths;
use crate::analyze::bash::words::{Taint, Word};
use crate::analyze::{FactKind, Span};

impl<'s> Analyzer<'s> {
    pub(super) fn redirected(&mut self, node: Node<'s>, ctx: &Ctx) -> R<Output> {
        let mut stdin = ctx.stdin.clone();
        let mut redirs = Vec::new();
        let mut after_pipe: Vec<Node<'s>> = Vec::new();
        let mut after_right: Option<Node<'s>> = None;
        let body = node.child_by_field_name("body");
        for c in named_children(node) {
            if Some(c) == body {
                continue;
            }
            match c.kind() {
                "heredoc_redirect" => {
                    self.heredoc(
                        c,
                        &mut redirs,
                        &mut stdin,
                        &mut after_pipe,
                        &mut after_right,
                    )?;
                }
                "file_redirect" | "herestring_redirect" => {
                    self.parse_redirect(c, &mut redirs, &mut stdin)?
                }
                _ => {}
            }
        }
        let span = span_of(node);
        let inner_ctx = Ctx {
            stdin,
            in_pipeline: ctx.in_pipeline || !after_pipe.is_empty(),
            ..ctx.clone()
        };
        let mut out = match body {
            Some(b) if b.kind() == "command" => self.command(b, &inner_ctx, &redirs)?,
            Some(b) => {
                let o = self.stmt(b, &inner_ctx)?;
                let (to_file, _) = self.apply_redirects(&redirs, &o, span, false);
                if to_file {
                    Output { text: None, ..o }
                } else {
                    o
                }
            }
            None => {
                let o = Output {
                    text: Some(String::new()),
                    ..Output::default()
                };
                self.apply_redirects(&redirs, &o, span, false);
                o
            }
        };
        if !after_pipe.is_empty() {
            out = self.pipeline(&after_pipe, ctx, Some(out), span)?;
        }
        if let Some(r) = after_right {
            out = self.stmt(r, ctx)?;
        }
        Ok(out)
    }

    pub(super) fn heredoc(
        &mut self,
        node: Node<'s>,
        redirs: &mut Vec<Redir>,
        stdin: &mut Input,
        after_pipe: &mut Vec<Node<'s>>,
        after_right: &mut Option<Node<'s>>,
    ) -> R<()> {
        let mut quoted = false;
        let mut strip_tabs = false;
        let mut body_text = Some(String::new());
        let mut taint = Taint::default();
        for (field, c) in fielded_children(node).iter() {
            match (*field, c.kind()) {
                (_, "<<-") => strip_tabs = true,
                (_, "heredoc_start") => {
                    let t = self.text(*c);
                    quoted = t.contains(['\'', '"', '\\']);
                }
                (_, "heredoc_body") => {
                    let (text, t) = self.heredoc_body(*c, quoted)?;
                    body_text = text;
                    taint = t;
                }
                (Some("right"), _) => *after_right = Some(*c),
                (_, "pipeline") => {
                    for s in named_children(*c) {
                        after_pipe.push(s);
                    }
                }
                (_, "file_redirect") | (_, "herestring_redirect") => {
                    self.parse_redirect(*c, redirs, stdin)?;
                }
                _ => {}
            }
        }
        if strip_tabs {
            body_text = body_text.map(|t| {
                t.lines()
                    .map(|l| l.trim_start_matches('\t'))
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            });
        }
        *stdin = Input {
            text: body_text,
            taint,
            pipe: false,
            present: true,
            socket: false,
        };
        Ok(())
    }

    pub(super) fn heredoc_body(
        &mut self,
        node: Node<'s>,
        quoted: bool,
    ) -> R<(Option<String>, Taint)> {
        if quoted || node.named_child_count() == 0 {
            return Ok((Some(self.text(node).to_string()), Taint::default()));
        }
        let mut w = Word::default();
        let mut pos = node.start_byte();
        for c in named_children(node) {
            if c.start_byte() > pos {
                w.push_lit(self.src.get(pos..c.start_byte()).unwrap_or(""));
            }
            match c.kind() {
                "heredoc_content" => w.push_lit(self.text(c)),
                _ => {
                    let v = self.word_q(c, true)?;
                    w.append(v);
                }
            }
            pos = c.end_byte();
        }
        if node.end_byte() > pos {
            w.push_lit(self.src.get(pos..node.end_byte()).unwrap_or(""));
        }
        Ok((w.constant(), w.taint))
    }

    /// Evaluates a file or here-string redirection; input redirections feed `stdin`.
    pub fn parse_redirect(
        &mut self,
        node: Node<'s>,
        redirs: &mut Vec<Redir>,
        stdin: &mut Input,
    ) -> R<()> {
        let span = span_of(node);
        if node.kind() == "herestring_redirect" {
            let mut w = Word::default();
            for c in named_children(node) {
                if c.kind() != "file_descriptor" {
                    w.append(self.word(c)?);
                }
            }
            *stdin = Input {
                text: w.constant().map(|t| t + "\n"),
                taint: w.taint,
                pipe: false,
                present: true,
                socket: false,
            };
            return Ok(());
        }
        let mut fd = None;
        let mut op = String::new();
        let mut target: Option<Word> = None;
        let mut cursor = node.walk();
        for c in node.children(&mut cursor) {
            match c.kind() {
                "file_descriptor" => fd = self.text(c).parse().ok(),
                "ERROR" => op.push_str(self.text(c).trim()),
                k if !c.is_named() => op.push_str(k),
                _ => {
                    if target.is_none() {
                        target = Some(self.word(c)?);
                    }
                }
            }
        }
        let Some(target) = target else { return Ok(()) };
        if op.starts_with('<') && op != "<<" {
            let t = target.known_text();
            let path = paths::normalise(&t);
            let is_fd = op.ends_with('&');
            if target.procsub {
                *stdin = Input {
                    text: None,
                    taint: target.taint.clone(),
                    pipe: true,
                    present: true,
                    socket: false,
                };
            } else if is_fd {
                if t.parse::<u32>().is_ok_and(|n| self.socket_fds.contains(&n)) {
                    *stdin = Input {
                        socket: true,
                        present: true,
                        ..Input::default()
                    };
                    stdin.taint.download = true;
                }
            } else if path.starts_with("/dev/tcp/") || path.starts_with("/dev/udp/") {
                *stdin = Input {
                    socket: true,
                    present: true,
                    ..Input::default()
                };
                stdin.taint.download = true;
            } else if fd.is_none_or(|f| f == 0) {
                let info = self
                    .files
                    .get(&path)
                    .cloned()
                    .or_else(|| self.file_by_basename(&path));
                let info_unknown = info.is_none();
                *stdin = Input {
                    text: info.as_ref().and_then(|i| i.content.clone()),
                    taint: info.map(|i| i.taint).unwrap_or_default(),
                    pipe: false,
                    present: true,
                    socket: false,
                };
                if path.starts_with("/proc/") && path.ends_with("/environ") {
                    stdin.taint.secret = true;
                }
                // Lines of a file the script did not write (`while read -r
                // c; do $c; done < list`) are input it does not control.
                if info_unknown && path != "/dev/null" {
                    stdin.taint.input = true;
                }
            }
        }
        redirs.push(Redir {
            fd,
            op,
            target,
            span,
        });
        Ok(())
    }

    pub fn file_by_basename(&self, path: &str) -> Option<FileInfo> {
        let base = paths::basename(path);
        if base.is_empty() {
            return None;
        }
        self.files
            .iter()
            .find(|(k, _)| paths::basename(k) == base)
            .map(|(_, v)| v.clone())
    }

    /// Emits redirect facts and their signals, records written files.
    /// Returns (stdout went to a file, a socket is involved).
    pub fn apply_redirects(
        &mut self,
        redirs: &[Redir],
        out: &Output,
        span: Span,
        _shell: bool,
    ) -> (bool, bool) {
        let mut to_file = false;
        let mut socket = false;
        for r in redirs {
            let raw = r.target.known_text();
            let dup = r.op.ends_with('&') || r.op == ">&" || r.op == "<&";
            if dup && (raw.chars().all(|c| c.is_ascii_digit()) || raw == "-") {
                if raw
                    .parse::<u32>()
                    .is_ok_and(|n| self.socket_fds.contains(&n))
                {
                    socket = true;
                }
                continue;
            }
            if raw.is_empty() {
                continue;
            }
            let name = paths::normalise(&raw);
            let op = match r.op.as_str() {
                ">&" | "&>" => "&>".to_string(),
                o => o.to_string(),
            };
            let is_write = op.contains('>');
            if name.starts_with("/dev/tcp/") || name.starts_with("/dev/udp/") {
                socket = true;
                self.net_sink.get_or_insert(span);
                if op.contains('<') && op.contains('>') {
                    if let Some(fd) = r.fd {
                        self.socket_fds.insert(fd);
                    }
                }
            }
            if matches!(
                name.as_str(),
                "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin"
            ) || name.starts_with("/dev/fd/")
            {
                continue;
            }
            self.emit(FactKind::Redirect, name.clone(), vec![op.clone()], r.span);
            self.check_path(&name, r.span, !is_write);
            if paths::is_cloud_metadata(&name) {
                self.signal("cloud-metadata", r.span);
            }
            let stdout = r.fd.is_none_or(|f| f == 1) || op.starts_with('&');
            if is_write && stdout && !name.starts_with("/dev/") {
                to_file = true;
                let prev = self.files.get(&name).cloned().unwrap_or_default();
                let content = if op.contains(">>") {
                    match (prev.content, &out.text) {
                        (Some(a), Some(b)) if !self.keep(a.len() + b.len(), r.span) => None,
                        (Some(a), Some(b)) => Some(a + b),
                        (None, Some(b)) if !self.files.contains_key(&name) => Some(b.clone()),
                        _ => None,
                    }
                } else {
                    out.text.clone()
                };
                let mut taint = out.taint.clone();
                if op.contains(">>") {
                    taint.merge(&prev.taint);
                }
                self.files.insert(name, FileInfo { content, taint });
            }
        }
        (to_file, socket)
    }

    /// Signals for a path the script touches.
    pub fn check_path(&mut self, path: &str, span: Span, read: bool) {
        match paths::sensitive(path) {
            Some(paths::Sensitive::Credential) => {
                self.signal("sensitive-path", span);
                if read {
                    self.secret_seen = true;
                }
                if path.starts_with("/proc/") && path.ends_with("/environ") {
                    self.signal("env-harvest", span);
                }
            }
            Some(_) => self.signal("sensitive-path", span),
            None => {}
        }
        if read && (path == "/etc/passwd" || path.ends_with("_history")) {
            self.secret_seen = true;
        }
        if !read && paths::is_protected_write(path) {
            self.signal("sensitive-write", span);
        }
    }
}
