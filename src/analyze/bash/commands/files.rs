//! File commands: recursive deletes (`rm`, `find -delete`), copies and
//! moves that carry a written file's content to a new name, `tee`, in-place
//! `sed`, `dd`/`fallocate`/`head -c` that fill the disk, setuid modes of
//! `chmod`/`install`, and `find -exec` (which runs its command through
//! `run`).

use super::RunCtx;
use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, FileInfo, Input, Output, R};
use crate::analyze::bash::words::Word;
use crate::analyze::{FactKind, Span};

/// Whether a chmod/install mode sets the setuid or setgid bit.
pub(super) fn is_setuid_mode(mode: &str) -> bool {
    let m = mode.trim_start_matches('=');
    if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) {
        let digits: Vec<u32> = m.chars().filter_map(|c| c.to_digit(8)).collect();
        let special = match digits.len() {
            4 => digits[0],
            5 => digits[1],
            _ => 0,
        };
        return special & 6 != 0;
    }
    m.split(',').any(|clause| {
        let perms = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        (perms.starts_with('+') || perms.starts_with('=')) && perms.contains('s')
    })
}

/// Shells whose copy under another name hides what runs.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"];

impl<'s> Analyzer<'s> {
    pub(super) fn rm(&mut self, texts: &[String], args: &[Word], span: Span) {
        let mut recursive = false;
        let mut no_preserve = false;
        let mut targets = Vec::new();
        let mut opts_done = false;
        for (t, w) in texts.iter().zip(args) {
            if !opts_done && t == "--" {
                opts_done = true;
                continue;
            }
            if !opts_done && t.starts_with("--") {
                recursive |= t == "--recursive";
                no_preserve |= t == "--no-preserve-root";
                continue;
            }
            if !opts_done && t.starts_with('-') && t.len() > 1 {
                recursive |= t.contains('r') || t.contains('R');
                continue;
            }
            if let Some(c) = w.constant() {
                targets.push(c);
            }
        }
        if recursive && targets.iter().any(|t| paths::is_root_class(t)) {
            self.signal("recursive-delete-root", span);
        }
        if no_preserve && recursive {
            self.signal("recursive-delete-root", span);
        }
    }

    pub(super) fn find(&mut self, args: &[Word], rc: &RunCtx) -> R<()> {
        let span = rc.span;
        let texts: Vec<String> = args.iter().map(Word::known_text).collect();
        let start_paths: Vec<String> = args
            .iter()
            .take_while(|w| {
                let t = w.known_text();
                !(t.starts_with('-') || t == "(" || t == "!")
            })
            .filter_map(Word::constant)
            .collect();
        let root = start_paths.iter().any(|p| paths::is_root_class(p));
        if root && texts.iter().any(|t| t == "-delete") {
            self.signal("recursive-delete-root", span);
        }
        let mut i = 0;
        while i < args.len() {
            if matches!(texts[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let start = i + 1;
                let mut end = start;
                while end < args.len() && !matches!(texts[end].as_str(), ";" | "+") {
                    end += 1;
                }
                // `{}` is each file found under the start path: `-exec
                // openssl enc -in {}` below /home works on /home's files.
                let found = match start_paths.as_slice() {
                    [one] => format!("{}/{{}}", one.trim_end_matches('/')),
                    _ => "{}".to_string(),
                };
                let sub: Vec<Word> = args[start..end]
                    .iter()
                    .map(|w| match w.constant() {
                        Some(c) if c.contains("{}") => Word::lit(c.replace("{}", &found)),
                        _ => w.clone(),
                    })
                    .collect();
                if let Some(first) = sub.first() {
                    let n = first.known_text();
                    let n = paths::basename(&n);
                    if root && matches!(n, "rm" | "shred" | "unlink") {
                        self.signal("recursive-delete-root", span);
                    }
                }
                let sub_rc = RunCtx {
                    redirs: Vec::new(),
                    stdin: Input::default(),
                    ..rc.clone()
                };
                self.run(sub, &sub_rc)?;
                i = end + 1;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    pub(super) fn copy_like(&mut self, texts: &[String], span: Span) {
        let operands: Vec<&String> = texts.iter().filter(|t| !t.starts_with('-')).collect();
        let has_target_flag = texts
            .iter()
            .any(|t| t == "-t" || t.starts_with("--target-directory"));
        if operands.len() < 2 || has_target_flag {
            return;
        }
        let dest = paths::normalise(operands[operands.len() - 1]);
        self.emit(FactKind::Redirect, dest.clone(), vec![">".into()], span);
        self.check_path(&dest, span, false);
        let src = paths::normalise(operands[0]);
        // A shell copied or linked under another name (`cp /bin/sh
        // /tmp/crond`, `ln -s /bin/sh git-x`) runs a shell that no longer
        // reads as one.
        let src_base = paths::basename(&src);
        let dest_base = paths::basename(dest.trim_end_matches('/'));
        if SHELLS.contains(&src_base) && !dest.ends_with('/') && dest_base != src_base {
            self.signal("string-obfuscation", span);
        }
        if let Some(info) = self.files.get(&src).cloned() {
            self.files.insert(dest, info);
        } else if matches!(
            paths::basename(&src),
            "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "mksh"
        ) && src.starts_with('/')
        {
            // A copy or link of a shell (`ln -s /bin/sh git-x`, `cp /bin/sh
            // /tmp/td/`) runs as that shell under its new name.
            let raw_dest = operands[operands.len() - 1];
            let dest = if raw_dest.ends_with('/') {
                paths::normalise(&format!("{raw_dest}{}", paths::basename(&src)))
            } else {
                dest
            };
            self.files.insert(
                dest,
                FileInfo {
                    content: Some(format!("exec {src}\n")),
                    taint: Default::default(),
                },
            );
        }
    }

    pub(super) fn dd(&mut self, texts: &[String], span: Span) {
        let get = |k: &str| {
            texts
                .iter()
                .find_map(|t| t.strip_prefix(k).map(str::to_string))
        };
        let input = get("if=");
        let output = get("of=");
        if let Some(o) = &output {
            let p = paths::normalise(o);
            self.emit(FactKind::Redirect, p.clone(), vec![">".into()], span);
            self.check_path(&p, span, false);
        }
        let zero = input
            .as_deref()
            .is_some_and(|i| matches!(i, "/dev/zero" | "/dev/urandom" | "/dev/random"));
        let to_file = output.as_deref().is_some_and(|o| o != "/dev/null");
        if zero && to_file {
            let bs = get("bs=")
                .and_then(|b| paths::parse_size(&b))
                .unwrap_or(512);
            let total = match get("count=").and_then(|c| c.parse::<u64>().ok()) {
                Some(c) => c.saturating_mul(bs),
                None => u64::MAX,
            };
            if total >= 1 << 30 {
                self.signal("resource-exhaustion", span);
            }
        }
    }

    pub(super) fn head_fill(&mut self, texts: &[String], rc: &RunCtx, span: Span) {
        let mut size = None;
        let mut it = texts.iter();
        while let Some(t) = it.next() {
            if t == "-c" || t == "--bytes" {
                size = it.next().and_then(|s| paths::parse_size(s));
            } else if let Some(s) = t.strip_prefix("-c").or_else(|| t.strip_prefix("--bytes=")) {
                size = paths::parse_size(s);
            }
        }
        let zero = texts
            .iter()
            .any(|t| matches!(t.as_str(), "/dev/zero" | "/dev/urandom" | "/dev/random"));
        if zero && size.is_some_and(|s| s >= 1 << 30) {
            let _ = rc;
            self.signal("resource-exhaustion", span);
        }
    }

    /// `install -m MODE`: setuid modes, and the copy.
    pub(super) fn install(&mut self, texts: &[String], span: Span) {
        let mut it = texts.iter();
        while let Some(t) = it.next() {
            let mode = if t == "-m" || t == "--mode" {
                it.next().cloned()
            } else {
                t.strip_prefix("--mode=")
                    .or_else(|| t.strip_prefix("-m"))
                    .map(str::to_string)
            };
            if mode.is_some_and(|m| is_setuid_mode(&m)) {
                self.signal("setuid", span);
            }
        }
        self.copy_like(texts, span);
    }

    /// `tee FILE...` writes its input to each file and passes it on.
    pub(super) fn tee(&mut self, texts: &[String], rc: &RunCtx, out: &mut Output) {
        let span = rc.span;
        let append = texts.iter().any(|t| t == "-a" || t == "--append");
        for t in texts.iter().filter(|t| !t.starts_with('-')) {
            let p = paths::normalise(t);
            self.emit(
                FactKind::Redirect,
                p.clone(),
                vec![if append { ">>" } else { ">" }.into()],
                span,
            );
            self.check_path(&p, span, false);
            self.files.insert(
                p,
                FileInfo {
                    content: rc.stdin.text.clone(),
                    taint: rc.stdin.taint.clone(),
                },
            );
        }
        out.text = rc.stdin.text.clone();
        out.taint.merge(&rc.stdin.taint);
    }

    /// `sed -i` (and `perl -i`) rewrite their file operands.
    pub(super) fn sed_inplace(&mut self, texts: &[String], rc: &RunCtx, out: &mut Output) {
        let span = rc.span;
        let inplace = texts
            .iter()
            .any(|t| t.starts_with("-i") || t.starts_with("--in-place"));
        if inplace {
            let files: Vec<&String> = texts
                .iter()
                .skip(1)
                .filter(|t| !t.starts_with('-'))
                .collect();
            for f in files
                .iter()
                .skip(usize::from(!texts.iter().any(|t| t == "-e")))
            {
                let p = paths::normalise(f);
                if paths::is_pathlike(&p) || !p.contains(' ') {
                    self.emit(FactKind::Redirect, p.clone(), vec![">".into()], span);
                    self.check_path(&p, span, false);
                }
            }
        }
        out.taint.merge(&rc.stdin.taint);
    }

    /// `fallocate -l SIZE`: a gigabyte or more is resource exhaustion.
    pub(super) fn fallocate(&mut self, name: &str, texts: &[String], span: Span) {
        let mut it = texts.iter();
        while let Some(t) = it.next() {
            let size = match t.as_str() {
                "-l" | "--length" | "-s" | "--size" => it.next().cloned(),
                _ => t
                    .strip_prefix("-l")
                    .or_else(|| t.strip_prefix("--length="))
                    .map(str::to_string),
            };
            if size
                .and_then(|s| paths::parse_size(&s))
                .is_some_and(|n| n >= 1 << 30)
                && name == "fallocate"
            {
                self.signal("resource-exhaustion", span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn setuid_modes() {
        for m in [
            "4755", "2755", "6755", "04755", "u+s", "g+s", "+s", "a+xs", "u=rwxs", "=4755",
        ] {
            assert!(is_setuid_mode(m), "{m}");
        }
        for m in ["755", "644", "+x", "u+x", "0755", "1777", "u-s"] {
            assert!(!is_setuid_mode(m), "{m}");
        }
    }
}
