//! File sinks: `fs` reads, writes, deletes and permission changes, with
//! the paths they touch and protected locations.
//!
//! What it must not do: touch the file system; it reads only the code.

use super::Walker;
use crate::analyze::javascript::names::{self, is_root_like, sensitive_path};
use crate::analyze::javascript::value::{Val, V};
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn fs_call(&mut self, node: Node<'t>, p: &str, args: &[Val<'t>]) {
        let method = p.rsplit('.').next().unwrap_or(p);
        let two_paths = ["copy", "cp", "rename", "symlink", "link", "move"]
            .iter()
            .any(|m| method.starts_with(m));
        let n = if two_paths { 2 } else { 1 };
        for a in args.iter().take(n) {
            let Some(path) = a.to_partial_string() else {
                continue;
            };
            if let Some(why) = sensitive_path(&path) {
                self.signal(
                    "sensitive-path",
                    node,
                    vec![names::normalize_path(&path), why.into()],
                );
            }
            if path.contains("/proc/self/environ")
                || path.contains("/environ") && path.starts_with("/proc/")
            {
                self.signal("env-harvest", node, vec![path.clone()]);
            }
        }
        let writes = [
            "write",
            "append",
            "createWriteStream",
            "copy",
            "cp",
            "rename",
            "symlink",
            "link",
            "move",
            "outputFile",
            "outputJson",
            "truncate",
            "ensureFile",
            "ensureSymlink",
            "ensureLink",
            "mkdir",
        ]
        .iter()
        .any(|m| method.starts_with(m) || method == *m)
            || method.starts_with("open")
                && args
                    .get(1)
                    .and_then(|f| f.as_str())
                    .is_some_and(|f| f.contains(['w', 'a', '+']));
        if writes {
            // The written path is the destination: the second argument for copies and links.
            let dest = if two_paths { args.get(1) } else { args.first() };
            if let Some(d) = dest.and_then(|d| d.to_partial_string()) {
                if let Some(why) = protected_write(&d) {
                    self.signal(
                        "sensitive-write",
                        node,
                        vec![names::normalize_path(&d), why.into()],
                    );
                }
            }
        }
        let target = args.first().and_then(|a| a.to_partial_string());
        let deletes = ["rm", "rmdir", "unlink", "remove", "emptyDir", "sync"]
            .iter()
            .any(|m| method.starts_with(m))
            || matches!(p, "rimraf" | "del" | "trash" | "rimraf.sync" | "del.sync");
        if deletes {
            if let Some(t) = &target {
                if is_root_like(t) {
                    self.signal("recursive-delete-root", node, vec![t.clone()]);
                }
            }
        }
        if method.contains("chmod") {
            let mode = args.get(1).and_then(|m| match &m.v {
                V::Num(n) => Some(*n as i64),
                V::Str(s) => i64::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
                _ => None,
            });
            if let Some(m) = mode {
                if m & 0o6000 != 0 {
                    self.signal(
                        "setuid",
                        node,
                        vec![target.unwrap_or_default(), format!("{m:o}")],
                    );
                }
            }
        }
    }
}

/// Why writing `path` is sensitive: a sensitive file, or anywhere in the
/// system directories (the scratch space is /tmp).
pub(super) fn protected_write(path: &str) -> Option<&'static str> {
    if let Some(why) = sensitive_path(path) {
        return Some(why);
    }
    let n = names::normalize_path(path);
    const SYSTEM: &[&str] = &[
        "/etc/",
        "/usr/",
        "/bin/",
        "/sbin/",
        "/lib",
        "/boot/",
        "/root/",
        "/var/spool/",
        "/proc/",
        "/sys/",
        "/opt/",
    ];
    if n.starts_with("/dev/")
        && !matches!(
            n.as_str(),
            "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty"
        )
    {
        return Some("device");
    }
    SYSTEM.iter().any(|d| n.starts_with(d)).then_some("system")
}
