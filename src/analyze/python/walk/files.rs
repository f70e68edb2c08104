//! File sinks: opens, writes, deletes and permission changes, with the
//! paths they touch.
//!
//! What it must not do: touch the file system; it reads only the code.

use super::{Folded, Kind, Sym, Walker, FOLD_DEPTH};
use crate::analyze::python::fold::Val;
use crate::analyze::python::tables::{self, Taint};
use crate::analyze::Span;
use rustpython_parser::ast::{self, Expr};

impl<'a> Walker<'a> {
    /// Writes to sensitive files, setuid bits, recursive deletion of roots, downloads to disk.
    pub(super) fn file_effects(
        &mut self,
        c: &ast::ExprCall,
        sym: &Sym,
        folded: &[Option<Folded>],
        span: Span,
    ) {
        let q = sym.qual.as_str();
        let text_at = |i: usize| {
            folded
                .get(i)
                .and_then(|f| f.as_ref())
                .and_then(|f| f.val.text().map(str::to_string))
        };
        let mut written: Option<String> = None;
        match q {
            "open" | "io.open" | "codecs.open" | "os.fdopen" => {
                let mode = self
                    .fold_arg(c, 1, "mode")
                    .and_then(|f| f.val.text().map(str::to_string))
                    .unwrap_or_default();
                if mode.contains(['w', 'a', 'x', '+']) {
                    written = self
                        .fold_arg(c, 0, "file")
                        .and_then(|f| f.val.text().map(str::to_string));
                }
            }
            "os.open" => {
                let flags = c.args.get(1);
                let writes = flags.is_some_and(|f| {
                    self.mentions(
                        f,
                        &[
                            "os.O_WRONLY",
                            "os.O_RDWR",
                            "os.O_APPEND",
                            "os.O_CREAT",
                            "os.O_TRUNC",
                        ],
                        0,
                    ) || matches!(self.fold(f), Some(Folded { val: Val::Int(n), .. }) if n & 3 != 0)
                });
                if writes {
                    written = text_at(0);
                }
            }
            "shutil.copy" | "shutil.copy2" | "shutil.copyfile" | "shutil.copytree"
            | "shutil.move" | "os.rename" | "os.replace" | "os.link" | "os.symlink" => {
                written = text_at(1)
            }
            "urllib.request.urlretrieve" | "urllib.urlretrieve" | "wget.download" => {
                if let Some(p) = text_at(1).or_else(|| {
                    self.fold_arg(c, 9, "out")
                        .and_then(|f| f.val.text().map(str::to_string))
                }) {
                    self.downloaded.push(p.clone());
                    written = Some(p);
                }
            }
            "shutil.rmtree" | "os.removedirs" | "os.rmdir" => {
                if let Some(p) = text_at(0) {
                    if tables::is_root_like(&p) {
                        self.signal("recursive-delete-root", vec![p], span);
                    }
                }
            }
            _ => {}
        }
        if sym.kind == Kind::Instance {
            let base = q.rsplit_once('.').map_or("", |(b, _)| b);
            let method = q.rsplit('.').next().unwrap_or("");
            let path = sym.args.first().cloned();
            if base.starts_with("pathlib.") || base == "Path" {
                match method {
                    "write_text" | "write_bytes" | "touch" | "symlink_to" | "hardlink_to" => {
                        written = path.clone()
                    }
                    "open" => {
                        let mode = text_at(0).unwrap_or_default();
                        if mode.contains(['w', 'a', 'x', '+']) {
                            written = path.clone();
                        }
                    }
                    "unlink" | "rmdir" => {}
                    _ => {}
                }
            }
            // Network data written into a file opened earlier: that file is a download.
            if matches!(base, "open" | "io.open") && matches!(method, "write" | "writelines") {
                if let (Some(p), Some(Taint::Network)) =
                    (path, c.args.first().and_then(|a| self.taint_of(a, 0)))
                {
                    self.downloaded.push(p);
                }
            }
        }
        if q.ends_with("chmod") || q == "os.fchmodat" {
            let setuid = c.args.iter().chain(c.keywords.iter().map(|k| &k.value)).any(|a| {
                self.mentions(a, &["stat.S_ISUID", "stat.S_ISGID"], 0)
                    || matches!(self.fold(a), Some(Folded { val: Val::Int(n), .. }) if (0o2000..=0o7777).contains(&n) && n & 0o6000 != 0)
            });
            if setuid {
                self.signal("setuid", vec![q.to_string()], span);
            }
        }
        if let Some(p) = written {
            if tables::is_sensitive_write(&p) {
                self.signal("sensitive-write", vec![p], span);
            }
        }
    }

    /// Whether `e` mentions any of the qualified names (`stat.S_ISUID | 0o755`).
    pub(super) fn mentions(&self, e: &Expr, names: &[&str], d: usize) -> bool {
        if d > FOLD_DEPTH {
            return false;
        }
        if let Some(s) = self.resolve(e) {
            if names.contains(&s.qual.as_str()) {
                return true;
            }
        }
        match e {
            Expr::BinOp(b) => {
                self.mentions(&b.left, names, d + 1) || self.mentions(&b.right, names, d + 1)
            }
            Expr::UnaryOp(u) => self.mentions(&u.operand, names, d + 1),
            _ => false,
        }
    }
}
