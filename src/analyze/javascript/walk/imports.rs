//! Imports: ES `import` statements and `require`/`import()` of modules,
//! to Import facts and module values that later member reads qualify.
//!
//! What it must not do: load or resolve anything on disk.

use super::Walker;
use crate::analyze::javascript::names::{self, is_sensitive_path, sensitive_path};
use crate::analyze::javascript::value::{Val, V};
use crate::analyze::FactKind;
use tree_sitter::Node;

impl<'t, 'b> Walker<'t, 'b> {
    pub(super) fn import_statement(&mut self, node: Node<'t>) {
        let Some(src) = self.field(node, "source") else {
            return;
        };
        let m = self.string_literal(src);
        let module = self.import_module(&m, node);
        for i in 0..node.named_child_count() {
            let Some(clause) = node.named_child(i as u32) else {
                continue;
            };
            if clause.kind() != "import_clause" {
                continue;
            }
            for j in 0..clause.named_child_count() {
                let Some(c) = clause.named_child(j as u32) else {
                    continue;
                };
                match c.kind() {
                    "identifier" => {
                        let n = self.text(c).to_string();
                        self.declare(&n, Some(module.clone()));
                    }
                    "namespace_import" => {
                        if let Some(id) = c.named_child(0) {
                            let n = self.text(id).to_string();
                            self.declare(&n, Some(module.clone()));
                        }
                    }
                    "named_imports" => {
                        for k in 0..c.named_child_count() {
                            let Some(spec) = c.named_child(k as u32) else {
                                continue;
                            };
                            if spec.kind() != "import_specifier" {
                                continue;
                            }
                            let Some(name) = self.field(spec, "name") else {
                                continue;
                            };
                            let imported = if name.kind() == "string" {
                                self.string_literal(name).as_str().unwrap_or("").to_string()
                            } else {
                                self.text(name).to_string()
                            };
                            let local = self.field(spec, "alias").unwrap_or(name);
                            let local = self.text(local).to_string();
                            let v = if imported == "default" {
                                module.clone()
                            } else {
                                self.member_of(&module, &imported, spec)
                            };
                            if let V::Path(p) = &v.v {
                                let p = p.clone();
                                self.emit(FactKind::Attribute, p, spec, Vec::new());
                            }
                            self.declare(&local, Some(v));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Records an import of the module named by `name` and returns the module's path value.
    pub(super) fn import_module(&mut self, name: &Val<'t>, node: Node<'t>) -> Val<'t> {
        match &name.v {
            V::Str(s) => {
                let import = names::import_name(s);
                let path = names::module_path(s);
                self.emit(FactKind::Import, import.clone(), node, Vec::new());
                if (name.obf || name.concat || !name.decoders.is_empty())
                    && (names::SENSITIVE_MODULES.contains(&path.as_str())
                        || is_sensitive_path(&path))
                {
                    self.signal("string-obfuscation", node, vec![import]);
                }
                if let Some(why) = sensitive_path(s).filter(|_| s.starts_with('/')) {
                    self.signal(
                        "sensitive-path",
                        node,
                        vec![names::normalize_path(s), why.into()],
                    );
                }
                Val::path(path)
            }
            other => {
                let shown = match other {
                    V::Partial(p) => p.clone(),
                    _ => "?".into(),
                };
                self.signal("computed-name", node, vec![format!("require({shown})")]);
                Val::unknown()
            }
        }
    }
}
