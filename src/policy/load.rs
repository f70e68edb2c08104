//! Loading a policy: read the file, parse it, pull in its rule packs,
//! validate everything, compile the patterns and compute the content hash.
//!
//! Every error names the file, line and column and the field at fault. The
//! YAML parser reports positions for syntax and shape errors; for semantic
//! errors found after parsing (a duplicate id, a bad pattern) the position is
//! found by locating the offending text in the source, starting from the
//! rule it belongs to.
//!
//! Policies come from a directory on disk or, when none is configured and
//! `./policies` does not exist, from the copies built into the binary, so an
//! installed `cordon` works anywhere.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::glob::Glob;
use super::model::{Action, Match, PolicyDoc, Rule, RulePackDoc, API_VERSION};
use super::yaml;
use crate::analyze::signals;

/// Categories a rule may belong to (`category:` and `categoryActions:` keys).
pub const CATEGORIES: &[&str] = &[
    "process",
    "network",
    "filesystem",
    "dynamic-code",
    "obfuscation",
    "privilege",
    "persistence",
    "resource",
    "secrets",
    "escape",
    "info",
];

/// The policy files built into the binary, by path relative to the policy directory.
const BUILTIN: &[(&str, &str)] = &[
    ("default.yaml", include_str!("../../policies/default.yaml")),
    ("strict.yaml", include_str!("../../policies/strict.yaml")),
    (
        "packs/python.yaml",
        include_str!("../../policies/packs/python.yaml"),
    ),
    (
        "packs/javascript.yaml",
        include_str!("../../policies/packs/javascript.yaml"),
    ),
    (
        "packs/bash.yaml",
        include_str!("../../policies/packs/bash.yaml"),
    ),
];

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy is malformed; `file:line:column: field: message`.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("cannot read policy file {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("policy {name:?} not found (looked in {searched}); available: {available}")]
    NotFound {
        name: String,
        searched: String,
        available: String,
    },
    #[error("{file}: includes itself through {chain}")]
    IncludeCycle { file: String, chain: String },
}

/// A rule with its patterns compiled.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    /// Which pack or policy file the rule came from.
    pub origin: String,
    pub(crate) import: Vec<Glob>,
    pub(crate) call: Vec<Glob>,
    pub(crate) attribute: Vec<Glob>,
    pub(crate) command: Vec<Glob>,
    pub(crate) redirect: Vec<Glob>,
    pub(crate) string: Vec<Glob>,
    pub(crate) signal: Vec<Glob>,
    pub(crate) args: Vec<Glob>,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The effective document: packs merged into `rules`, `include` kept for reference.
    pub doc: PolicyDoc,
    /// Where it came from: a path, or `builtin:default.yaml`.
    pub source: String,
    /// `sha256:<hex>` over the canonical JSON form of `doc`; identifies the
    /// exact policy version in every decision.
    pub hash: String,
    pub rules: Vec<CompiledRule>,
}

impl Policy {
    pub fn name(&self) -> &str {
        &self.doc.metadata.name
    }

    /// Loads a policy from a file on disk.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        Loader::Disk.load(&path.to_string_lossy())
    }

    /// Loads a policy from YAML text (includes are resolved relative to `dir`,
    /// or against the built-in packs when `dir` is `None`).
    pub fn from_str_with(
        text: &str,
        file: &str,
        dir: Option<&Path>,
    ) -> Result<Policy, PolicyError> {
        let loader = match dir {
            Some(d) => Loader::DiskAt(d.to_path_buf()),
            None => Loader::Builtin,
        };
        loader.load_text(text, file, &mut Vec::new())
    }

    /// A built-in policy by name (`default`, `strict`).
    pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
        let file = format!("{name}.yaml");
        if !BUILTIN.iter().any(|(p, _)| *p == file) {
            return Err(not_found(name, "the built-in policies"));
        }
        Loader::Builtin.load(&file)
    }

    /// Resolves `name_or_path`: an existing file path, or a policy name looked
    /// up in `dir` (`<dir>/<name>.yaml`), or in `./policies`, or among the
    /// built-in policies.
    pub fn resolve(name_or_path: &str, dir: Option<&Path>) -> Result<Policy, PolicyError> {
        let as_path = Path::new(name_or_path);
        if name_or_path.ends_with(".yaml")
            || name_or_path.ends_with(".yml")
            || name_or_path.contains('/')
        {
            return Policy::from_file(as_path);
        }
        if !is_plain_name(name_or_path) {
            return Err(not_found(name_or_path, "nowhere: not a valid policy name"));
        }
        match policy_dir(dir) {
            Some(d) => {
                let file = d.join(format!("{name_or_path}.yaml"));
                if file.is_file() {
                    Policy::from_file(&file)
                } else {
                    Err(not_found_in_dir(name_or_path, &d))
                }
            }
            None => Policy::builtin(name_or_path),
        }
    }

    /// Names of the policies available in `dir` (or built in).
    pub fn available(dir: Option<&Path>) -> Vec<String> {
        match policy_dir(dir) {
            Some(d) => list_dir(&d),
            None => builtin_names(),
        }
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The directory policies come from: the given one, else `./policies` when it exists.
pub fn policy_dir(dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = dir {
        return Some(d.to_path_buf());
    }
    let local = PathBuf::from("policies");
    local.join("default.yaml").is_file().then_some(local)
}

fn builtin_names() -> Vec<String> {
    BUILTIN
        .iter()
        .filter(|(p, _)| !p.contains('/'))
        .map(|(p, _)| p.trim_end_matches(".yaml").to_string())
        .collect()
}

fn list_dir(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    (p.extension()? == "yaml")
                        .then(|| p.file_stem()?.to_str().map(str::to_string))?
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn not_found(name: &str, searched: &str) -> PolicyError {
    PolicyError::NotFound {
        name: name.to_string(),
        searched: searched.to_string(),
        available: builtin_names().join(", "),
    }
}

fn not_found_in_dir(name: &str, d: &Path) -> PolicyError {
    PolicyError::NotFound {
        name: name.to_string(),
        searched: d.display().to_string(),
        available: list_dir(d).join(", "),
    }
}

enum Loader {
    /// Paths are real files; includes relative to the including file.
    Disk,
    /// Like `Disk`, but the top-level text came from elsewhere and includes resolve in this directory.
    DiskAt(PathBuf),
    Builtin,
}

impl Loader {
    fn read(&self, file: &str) -> Result<String, PolicyError> {
        match self {
            Loader::Disk | Loader::DiskAt(_) => {
                std::fs::read_to_string(file).map_err(|source| PolicyError::Read {
                    file: file.to_string(),
                    source,
                })
            }
            Loader::Builtin => BUILTIN
                .iter()
                .find(|(p, _)| *p == file)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| not_found(file, "the built-in policies")),
        }
    }

    fn display(&self, file: &str) -> String {
        match self {
            Loader::Builtin => format!("builtin:{file}"),
            _ => file.to_string(),
        }
    }

    fn join(&self, including: &str, include: &str) -> String {
        match self {
            Loader::Builtin => include.trim_start_matches("./").to_string(),
            Loader::DiskAt(d) if !including.contains('/') => {
                d.join(include).to_string_lossy().into_owned()
            }
            _ => Path::new(including)
                .parent()
                .unwrap_or(Path::new("."))
                .join(include)
                .to_string_lossy()
                .into_owned(),
        }
    }

    fn load(&self, file: &str) -> Result<Policy, PolicyError> {
        let text = self.read(file)?;
        self.load_text(&text, file, &mut Vec::new())
    }

    fn load_text(
        &self,
        text: &str,
        file: &str,
        stack: &mut Vec<String>,
    ) -> Result<Policy, PolicyError> {
        let shown = self.display(file);
        let mut doc: PolicyDoc = parse(text, &shown)?;
        let here = Source {
            file: shown.clone(),
            text: text.to_string(),
        };
        if doc.kind != "Policy" {
            return Err(here.at_key(
                "kind",
                "kind",
                format!("expected `Policy`, found `{}`", doc.kind),
            ));
        }
        check_header(&here, &doc.api_version, &doc.metadata.name)?;
        validate_policy_fields(&doc, &here)?;

        let mut compiled = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        stack.push(file.to_string());
        for include in doc.include.clone() {
            let path = self.join(file, &include);
            if stack.contains(&path) {
                return Err(PolicyError::IncludeCycle {
                    file: shown,
                    chain: stack.join(" -> "),
                });
            }
            let pack_text = self.read(&path).map_err(|e| match e {
                PolicyError::Read { source, .. } => {
                    here.at_value("include", &include, format!("cannot read {path}: {source}"))
                }
                other => other,
            })?;
            let pack_shown = self.display(&path);
            let pack: RulePackDoc = parse(&pack_text, &pack_shown)?;
            let pack_src = Source {
                file: pack_shown.clone(),
                text: pack_text,
            };
            if pack.kind != "RulePack" {
                return Err(pack_src.at_key(
                    "kind",
                    "kind",
                    format!("expected `RulePack`, found `{}`", pack.kind),
                ));
            }
            check_header(&pack_src, &pack.api_version, &pack.metadata.name)?;
            for rule in pack.rules {
                compiled.push(compile_rule(rule, &pack_src, &mut seen)?);
            }
        }
        stack.pop();
        for rule in doc.rules.clone() {
            compiled.push(compile_rule(rule, &here, &mut seen)?);
        }

        // The effective document carries every rule, so the hash and
        // `policy show` describe exactly what is enforced.
        doc.rules = compiled.iter().map(|c| c.rule.clone()).collect();
        let hash = content_hash(&doc);
        Ok(Policy {
            doc,
            source: shown,
            hash,
            rules: compiled,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, PolicyError> {
    yaml::from_str(text).map_err(|e| {
        let field = field_at(text, e.line);
        // serde prefixes nested errors with their path; the field is printed already.
        let mut message = e
            .message
            .strip_prefix(&format!("{field}: "))
            .unwrap_or(&e.message)
            .to_string();
        if field == "network" && message.contains("unknown variant") {
            message = format!(
                "{message}: v1 supports only `network: none` (there is no egress control yet)"
            );
        }
        PolicyError::Invalid {
            file: file.to_string(),
            line: e.line,
            column: e.column,
            field,
            message,
        }
    })
}

/// The YAML key on `line` (1-based), or `document` when there is none.
fn field_at(text: &str, line: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            let (key, _) = l.split_once(':')?;
            let key = key.trim();
            (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
        })
        .unwrap_or_else(|| "document".to_string())
}

/// Canonical content hash: SHA-256 over the JSON serialisation of the
/// effective document with object keys sorted (serde_json's default map is
/// ordered) and no whitespace.
pub fn content_hash(doc: &PolicyDoc) -> String {
    let value = serde_json::to_value(doc).unwrap_or(serde_json::Value::Null);
    let canonical = serde_json::to_string(&value).unwrap_or_default();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// Source text used to turn a semantic error into a position.
struct Source {
    file: String,
    text: String,
}

impl Source {
    fn error(&self, offset: usize, field: &str, message: String) -> PolicyError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        PolicyError::Invalid {
            file: self.file.clone(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    }

    /// Position of `key:` at the start of a line (after indentation), from `from`.
    fn find_key(&self, key: &str, from: usize) -> Option<usize> {
        let mut offset = from;
        for line in self.text.get(from..)?.split_inclusive('\n') {
            let trimmed = line.trim_start().trim_start_matches("- ");
            if trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with(':') {
                return Some(offset + line.find(key).unwrap_or(0));
            }
            offset += line.len();
        }
        None
    }

    fn at_key(&self, key: &str, field: &str, message: String) -> PolicyError {
        let at = self.find_key(key, 0).unwrap_or(0);
        self.error(at, field, message)
    }

    fn at_value(&self, field: &str, value: &str, message: String) -> PolicyError {
        let at = self.text.find(value).unwrap_or(0);
        self.error(at, field, message)
    }

    /// Where rule `id` starts (its `id:` value), searching past earlier occurrences
    /// when `nth` > 0 (for duplicates).
    fn rule_start(&self, id: &str, nth: usize) -> usize {
        let mut from = 0;
        let mut found = 0;
        while let Some(pos) = self.find_key("id", from) {
            let line_end = self.text[pos..]
                .find('\n')
                .map(|e| pos + e)
                .unwrap_or(self.text.len());
            let value = self.text[pos..line_end]
                .split_once(':')
                .map(|(_, v)| v.trim().trim_matches(['"', '\'']));
            if value == Some(id) {
                if found == nth {
                    return pos;
                }
                found += 1;
            }
            from = line_end;
        }
        0
    }

    /// Position of `needle` inside the rule starting at `start`, else the rule start.
    fn in_rule(&self, start: usize, needle: &str) -> usize {
        let end = self.find_key("id", start + 3).unwrap_or(self.text.len());
        self.text[start..end]
            .find(needle)
            .map(|p| start + p)
            .unwrap_or(start)
    }
}

fn check_header(src: &Source, api_version: &str, name: &str) -> Result<(), PolicyError> {
    if api_version != API_VERSION {
        return Err(src.at_key(
            "apiVersion",
            "apiVersion",
            format!("expected `{API_VERSION}`, found `{api_version}`"),
        ));
    }
    if !is_plain_name(name) {
        return Err(src.at_key(
            "name",
            "metadata.name",
            format!("{name:?} is not a valid name (letters, digits, `-` and `_` only)"),
        ));
    }
    Ok(())
}

fn validate_policy_fields(doc: &PolicyDoc, src: &Source) -> Result<(), PolicyError> {
    let t = doc.thresholds;
    if t.review == 0 || t.deny == 0 || t.review > 100 || t.deny > 100 {
        return Err(src.at_key(
            "thresholds",
            "thresholds",
            "thresholds must be between 1 and 100".into(),
        ));
    }
    if t.review > t.deny {
        return Err(src.at_key(
            "thresholds",
            "thresholds",
            format!(
                "thresholds out of order: review ({}) is above deny ({})",
                t.review, t.deny
            ),
        ));
    }
    if doc.on_unparseable == Action::Allow {
        return Err(src.at_key(
            "onUnparseable",
            "onUnparseable",
            "must be `deny` or `review`: unparseable code is never allowed".into(),
        ));
    }
    for (lang, rt) in &doc.runtimes {
        let start = src
            .find_key(lang.as_str(), src.find_key("runtimes", 0).unwrap_or(0))
            .unwrap_or(0);
        let field = |f: &str| format!("runtimes.{lang}.{f}");
        let fail = |f: &str, msg: String| {
            let at = src.text[start..]
                .find(&format!("{f}:"))
                .map(|p| start + p)
                .unwrap_or(start);
            src.error(at, &field(f), msg)
        };
        if rt.image.trim().is_empty() || rt.image.chars().any(char::is_whitespace) {
            return Err(fail(
                "image",
                format!("{:?} is not an image reference", rt.image),
            ));
        }
        let l = rt.limits;
        if !(l.cpus > 0.0 && l.cpus <= 64.0) {
            return Err(fail(
                "cpus",
                format!("{} is not a CPU count between 0 and 64", l.cpus),
            ));
        }
        if l.memory.0 < 6 << 20 {
            return Err(fail(
                "memory",
                format!("{} is below the 6Mi minimum the engine accepts", l.memory),
            ));
        }
        if l.pids < 2 {
            return Err(fail("pids", "a runtime needs at least 2 processes".into()));
        }
        if l.wall.0.is_zero() || l.cpu_time.0.is_zero() {
            return Err(fail("wall", "durations must be above zero".into()));
        }
        if l.output.0 == 0 || l.tmpfs.0 < 1 << 20 {
            return Err(fail(
                "tmpfs",
                "output must be above zero and tmpfs at least 1Mi".into(),
            ));
        }
    }
    for cat in doc.category_actions.keys() {
        if !CATEGORIES.contains(&cat.as_str()) {
            return Err(src.at_value(
                "categoryActions",
                cat,
                format!(
                    "unknown category {cat:?}: expected one of {}",
                    CATEGORIES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn compile_rule(
    rule: Rule,
    src: &Source,
    seen: &mut BTreeMap<String, String>,
) -> Result<CompiledRule, PolicyError> {
    let start = src.rule_start(&rule.id, 0);
    let fail = |needle: &str, field: &str, msg: String| {
        src.error(
            src.in_rule(start, needle),
            &format!("rules[{}].{field}", rule.id),
            msg,
        )
    };

    let id_ok = rule.id.split('-').count() >= 2
        && rule.id.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
    if !id_ok {
        return Err(fail(
            "id",
            "id",
            format!("{:?} is not a rule id (expected e.g. PY-PROC-001)", rule.id),
        ));
    }
    if let Some(first) = seen.get(&rule.id) {
        let nth = if *first == src.file { 1 } else { 0 };
        let at = src.rule_start(&rule.id, nth);
        return Err(src.error(
            at,
            "id",
            format!("duplicate rule id {} (first defined in {first})", rule.id),
        ));
    }
    seen.insert(rule.id.clone(), src.file.clone());
    if rule.score > 100 {
        return Err(fail(
            "score",
            "score",
            format!("{} is above 100", rule.score),
        ));
    }
    let cwe_ok = rule
        .cwe
        .strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !cwe_ok {
        return Err(fail(
            "cwe",
            "cwe",
            format!(
                "{:?} is not a CWE reference (expected e.g. CWE-78)",
                rule.cwe
            ),
        ));
    }
    if rule.message.trim().is_empty() {
        return Err(fail(
            "message",
            "message",
            "message must not be empty".into(),
        ));
    }
    if let Some(cat) = &rule.category {
        if !CATEGORIES.contains(&cat.as_str()) {
            return Err(fail(
                "category",
                "category",
                format!(
                    "unknown category {cat:?}: expected one of {}",
                    CATEGORIES.join(", ")
                ),
            ));
        }
    }
    let m: &Match = &rule.matcher;
    let keyed = [
        &m.import,
        &m.call,
        &m.attribute,
        &m.command,
        &m.redirect,
        &m.string,
        &m.signal,
    ];
    if keyed.iter().all(|v| v.is_empty()) {
        return Err(fail("match", "match", "match needs at least one of import, call, attribute, command, redirect, string, signal".into()));
    }
    let compile = |key: &str, pats: &[String]| -> Result<Vec<Glob>, PolicyError> {
        let mut used = HashSet::new();
        pats.iter()
            .map(|p| {
                if !used.insert(p) {
                    return Err(fail(
                        p,
                        &format!("match.{key}"),
                        format!("pattern {p:?} is listed twice"),
                    ));
                }
                let g =
                    Glob::new(p).map_err(|e| fail(p, &format!("match.{key}"), e.to_string()))?;
                if key == "signal" && !signals::KNOWN.iter().any(|(s, _)| g.matches(s)) {
                    let known: Vec<&str> = signals::KNOWN.iter().map(|(s, _)| *s).collect();
                    return Err(fail(
                        p,
                        "match.signal",
                        format!("{p:?} matches no known signal; known: {}", known.join(", ")),
                    ));
                }
                Ok(g)
            })
            .collect()
    };
    Ok(CompiledRule {
        import: compile("import", &m.import)?,
        call: compile("call", &m.call)?,
        attribute: compile("attribute", &m.attribute)?,
        command: compile("command", &m.command)?,
        redirect: compile("redirect", &m.redirect)?,
        string: compile("string", &m.string)?,
        signal: compile("signal", &m.signal)?,
        args: compile("args", &m.args)?,
        origin: src.file.clone(),
        rule,
    })
}
