//! Process control: `kill` aimed at every process (`kill -9 -1`).

use crate::analyze::bash::walk::Analyzer;
use crate::analyze::Span;

impl<'s> Analyzer<'s> {
    /// `kill -1` / `kill -9 -1` signals every process the user may signal.
    pub(super) fn kill(&mut self, texts: &[String], span: Span) {
        let mut pids = false;
        let mut it = texts.iter().peekable();
        let mut first = true;
        while let Some(t) = it.next() {
            if first && (t == "-s" || t == "-n") {
                it.next();
                first = false;
                continue;
            }
            if t == "--" {
                pids = true;
                first = false;
                continue;
            }
            if first && t.starts_with('-') && !pids {
                first = false;
                continue;
            }
            first = false;
            if t == "-1" || t == "1" {
                self.signal("kill-all", span);
            }
            pids = true;
        }
    }
}
