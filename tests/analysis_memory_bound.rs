//! Analysis is bounded in memory, not only in time: no input of at most the
//! gateway's `max_code` bytes (1 MiB by default, [`Budget::DEFAULT_MAX_BYTES`])
//! makes one analysis allocate more than [`Budget::memory_ceiling`] of its
//! size (32 MiB plus 640 bytes per source byte: 672 MiB at 1 MiB) at its peak,
//! or run past its time budget.
//!
//! The peak is measured, not estimated: this test binary installs the
//! counting global allocator of `cordon::fuzzing::memory`, which also routes
//! tree-sitter's C allocations (the Bash and JavaScript parse trees) through
//! it, and measures one analysis at a time.
//!
//! The inputs are the shapes that grew the Bash analyzer to ~930 MB before
//! values were bounded (a variable doubled 60 times, then `eval`ed), their
//! Python and JavaScript twins, and the other ways folding copies values
//! (many variables holding the same large value, wide concatenations,
//! replacements, arrays, payloads analysed with the caller's variables),
//! each padded toward `max_code`; then random programs built from the same
//! fragments.

use std::time::{Duration, Instant};

use cordon::analyze::{analyze, Analysis, AnalyzeError, Budget};
use cordon::fuzzing::memory::{self, Counting};
use cordon::policy::Policy;
use cordon::Language;
use proptest::prelude::*;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ------------------------------------------------------------- the check

/// The time an analysis may take as seen from outside: its budget plus the
/// time between two deadline checks and thread start-up. Unoptimised test
/// builds on a shared 2-core machine get more slack; the budget itself is
/// the same.
fn time_allowed() -> Duration {
    let slack = if cfg!(debug_assertions) {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(1)
    };
    Budget::DEFAULT_TIME + slack
}

fn default_policy() -> &'static Policy {
    static CELL: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    CELL.get_or_init(|| Policy::builtin("default").expect("default policy loads"))
}

struct Measured {
    analysis: Analysis,
    peak: usize,
    elapsed: Duration,
}

/// Analyses `code` as the gateway does and measures its allocation peak.
fn measure(language: Language, code: &str) -> Measured {
    let policy = default_policy();
    let started = Instant::now();
    let (analysis, peak) = memory::measured(|| analyze(code.as_bytes(), language, policy));
    let elapsed = started.elapsed();
    Measured {
        analysis,
        peak: peak.expect("the counting allocator is this binary's global allocator"),
        elapsed,
    }
}

/// The property: within the memory ceiling and the time budget, and never
/// an internal failure.
fn check(name: &str, language: Language, code: &str) -> Measured {
    assert!(
        code.len() <= Budget::DEFAULT_MAX_BYTES,
        "{name}: test input is {} bytes, over max_code",
        code.len()
    );
    let m = measure(language, code);
    assert!(
        m.peak <= Budget::memory_ceiling(code.len()),
        "{name} ({language}, {} bytes): analysis peaked at {} MiB, over the {} MiB ceiling",
        code.len(),
        m.peak >> 20,
        Budget::memory_ceiling(code.len()) >> 20
    );
    assert!(
        m.elapsed <= time_allowed(),
        "{name} ({language}, {} bytes): analysis took {:?}, budget {:?}",
        code.len(),
        m.elapsed,
        Budget::DEFAULT_TIME
    );
    assert_ne!(
        m.analysis.error,
        Some(AnalyzeError::Crashed),
        "{name}: the analyzer failed internally"
    );
    m
}

fn rule_ids(a: &Analysis) -> Vec<&str> {
    a.findings.iter().map(|f| f.rule_id.as_str()).collect()
}

/// `unit` repeated (with `{i}` replaced by the repetition number) until the
/// next copy would pass `max` bytes.
fn pad(head: &str, unit: &str, tail: &str, max: usize) -> String {
    let mut out = String::from(head);
    let mut i = 0usize;
    loop {
        let next = unit.replace("{i}", &i.to_string());
        if out.len() + next.len() + tail.len() > max {
            break;
        }
        out.push_str(&next);
        i += 1;
    }
    out.push_str(tail);
    out
}

const MAX: usize = Budget::DEFAULT_MAX_BYTES;

/// The reproduction from the issue: `a=x`, 60 doublings, `eval "$a"`.
fn bash_doubling() -> String {
    let mut s = String::from("a=x\n");
    for _ in 0..60 {
        s.push_str("a=$a$a\n");
    }
    s.push_str("eval \"$a\"\n");
    s
}

fn big(n: usize) -> String {
    "x".repeat(n)
}

// ------------------------------------------------------------- named cases

/// Thousands of places of one rule: each rule reports at most
/// `MAX_FINDINGS_PER_RULE` of them. Merging findings used to compare every
/// place with every other, after the analysis and outside its time budget,
/// and 30,000 `os.system` lines took minutes.
#[test]
fn one_rule_at_many_places_reports_a_bounded_number_of_findings() {
    let code = pad("import os\n", "os.system('ls /tmp/{i}')\n", "", MAX / 4);
    let m = check("many os.system calls", Language::Python, &code);
    let of_rule = |id: &str| {
        m.analysis
            .findings
            .iter()
            .filter(|f| f.rule_id == id)
            .count()
    };
    let rule = m
        .analysis
        .findings
        .first()
        .map(|f| f.rule_id.clone())
        .expect("a finding");
    assert!(
        (1..=cordon::analyze::rules::MAX_FINDINGS_PER_RULE).contains(&of_rule(&rule)),
        "{rule}: {} findings",
        of_rule(&rule)
    );
    assert!(code.lines().count() > 10 * cordon::analyze::rules::MAX_FINDINGS_PER_RULE);
}

/// The densest sources measured (the most parse tree per source byte) set the
/// per-byte part of the ceiling; they stay here so a parser or walker change
/// that costs more per token shows up as a failure, not as a surprise.
#[test]
fn the_densest_sources_stay_within_the_ceiling() {
    let cases = [
        (
            "one-character pipeline stages",
            Language::Bash,
            pad("a", "|a", "\n", MAX),
        ),
        ("empty statements", Language::Bash, pad("", ":\n", "", MAX)),
        (
            "expansions glued together",
            Language::Bash,
            pad("", "$a", "\n", MAX),
        ),
        ("negations", Language::Javascript, pad("", "!", "a;\n", MAX)),
        (
            "numeric statements",
            Language::Javascript,
            pad("", "1;", "", MAX),
        ),
        ("sums", Language::Python, pad("", "1+", "1\n", MAX)),
        ("number lines", Language::Python, pad("", "1\n", "", MAX)),
    ];
    for (name, language, code) in cases {
        check(name, language, &code);
    }
}

#[test]
fn bash_doubling_from_the_issue_is_bounded_and_flagged() {
    let code = bash_doubling();
    assert_eq!(code.lines().count(), 62);
    let m = check("doubling", Language::Bash, &code);
    assert_eq!(m.analysis.error, None, "bounded folding is not an error");
    let ids = rule_ids(&m.analysis);
    assert!(
        ids.contains(&"SH-ANA-001"),
        "the bound is reported as evidence: {ids:?}"
    );
    assert!(
        ids.contains(&"SH-DYN-001"),
        "eval of what became unknown is dynamic code: {ids:?}"
    );
    assert!(
        m.peak < 16 << 20,
        "62 lines should not need {} MiB",
        m.peak >> 20
    );
}

#[test]
fn python_and_javascript_doubling_are_bounded_and_flagged() {
    let mut py = String::from("a = 'x'\n");
    let mut js = String::from("let a = 'x';\n");
    for _ in 0..60 {
        py.push_str("a = a + a\n");
        js.push_str("a = a + a;\n");
    }
    py.push_str("exec(a)\n");
    js.push_str("eval(a);\n");
    let m = check("doubling", Language::Python, &py);
    assert_eq!(m.analysis.error, None);
    let ids = rule_ids(&m.analysis);
    assert!(ids.contains(&"PY-ANA-001"), "{ids:?}");
    let m = check("doubling", Language::Javascript, &js);
    assert_eq!(m.analysis.error, None);
    let ids = rule_ids(&m.analysis);
    assert!(ids.contains(&"JS-ANA-001"), "{ids:?}");
}

/// Values at the per-value cap, copied many times: only the allowance stops these.
#[test]
fn bash_copies_of_a_large_value_are_bounded() {
    let head = format!("a={}\n", big(200_000));
    let cases = [
        ("many variables", pad(&head, "v{i}=$a\n", "", MAX)),
        (
            "wide concatenation",
            pad(&head, "b=$a$a$a$a$a$a$a$a\n", "", MAX),
        ),
        (
            "echo arguments",
            pad(&head, "echo $a $a $a $a $a $a $a $a\n", "", MAX),
        ),
        ("quoted copies", pad(&head, "c{i}=\"$a$a\"\n", "", MAX)),
        (
            "replacement blow-up",
            pad(&head, "d{i}=${a//x/$a}\n", "", MAX),
        ),
        (
            "arrays",
            pad(&head, "arr=(\"$a\" \"$a\" \"${arr[@]}\")\n", "", MAX),
        ),
        ("appends", pad(&head, "e+=$a\n", "", MAX)),
        (
            "eval with the caller's variables",
            pad(&head, "eval :\n", "", MAX),
        ),
        (
            "sh -c payloads",
            pad(&head, "bash -c \"echo $a\"\n", "", MAX),
        ),
        (
            "command substitution",
            pad(&head, "f=$(echo $a $a $a)\n", "", MAX),
        ),
        (
            "heredocs",
            pad(&head, "cat <<EOF\n$a$a$a$a\nEOF\n", "", MAX),
        ),
        (
            "files read back",
            pad(
                &format!("{head}echo \"$a\" > f\n"),
                "cat f f f f f f f f\n",
                "",
                MAX,
            ),
        ),
        ("pipes", pad(&head, "echo $a | tr x y | rev\n", "", MAX)),
    ];
    for (name, code) in cases {
        check(name, Language::Bash, &code);
    }
}

#[test]
fn bash_growth_shapes_are_bounded() {
    let unit = "a=$a$a\n";
    let doubling_blocks = pad("a=x\n", unit, "eval \"$a\"\n", MAX);
    let cases = [
        ("doubling to max_code", doubling_blocks),
        (
            "array doubling",
            pad("arr=(x)\n", "arr=(${arr[@]} ${arr[@]})\n", "", MAX),
        ),
        (
            "substitution doubling",
            pad("a=x\n", "a=$(echo $a$a)\n", "", MAX),
        ),
        ("append doubling", pad("a=x\n", "a+=$a\n", "", MAX)),
        (
            "doubling through eval",
            pad("a=x\n", "eval 'a=$a$a'\n", "", MAX),
        ),
        (
            "doubling in a function",
            pad("a=x\nf() {\n", "a=$a$a\n", "}\nf\n", MAX),
        ),
    ];
    for (name, code) in cases {
        check(name, Language::Bash, &code);
    }
}

#[test]
fn python_copies_and_growth_are_bounded() {
    let head = "a = 'x' * 262000\n";
    let cases = [
        ("many names", pad(head, "v{i} = a\n", "", MAX)),
        (
            "call arguments",
            pad(head, "print(a, a, a, a, a, a, a, a)\n", "", MAX),
        ),
        ("joins", pad(head, "b = ''.join([a, a, a, a])\n", "", MAX)),
        ("f-strings", pad(head, "c = f'{a}{a}'\n", "", MAX)),
        (
            "percent format",
            pad(head, "d = '%s%s' % (a, a)\n", "", MAX),
        ),
        ("list doubling", pad("l = [1]\n", "l = l + l\n", "", MAX)),
        (
            "string doubling",
            pad("s = 'x'\n", "s = s + s\n", "exec(s)\n", MAX),
        ),
        ("augmented doubling", pad("s = 'x'\n", "s += s\n", "", MAX)),
        (
            "tuples of copies",
            pad(head, "t{i} = (a, a, a, a)\n", "", MAX),
        ),
        (
            "nested functions copy their scopes",
            pad(
                &format!("def g():\n    {}", head),
                "    def f{i}(): pass\n",
                "",
                MAX,
            ),
        ),
        (
            "exec payloads",
            pad(head, "exec('x = ' + repr(a))\n", "", MAX),
        ),
        (
            "os.system strings",
            pad(head, "import os\nos.system('echo ' + a)\n", "", MAX),
        ),
        // The size of a replacement is checked before it is built: a value
        // replaced into itself squares (this took 4 GB once).
        (
            "replaced into itself",
            pad(
                "a = 'x' * 1000\n",
                "a = a.replace('x', a)\nb = a + b\n",
                "",
                MAX,
            ),
        ),
    ];
    for (name, code) in cases {
        check(name, Language::Python, &code);
    }
}

#[test]
fn javascript_copies_and_growth_are_bounded() {
    let head = "const a = 'x'.repeat(262000);\n";
    let cases = [
        ("many names", pad(head, "const v{i} = a;\n", "", MAX)),
        (
            "call arguments",
            pad(head, "console.log(a, a, a, a, a, a, a, a);\n", "", MAX),
        ),
        (
            "templates",
            pad(head, "const t{i} = `${a}${a}`;\n", "", MAX),
        ),
        (
            "array of copies",
            pad(head, "const r{i} = [a, a, a, a];\n", "", MAX),
        ),
        (
            "object of copies",
            pad(head, "const o{i} = {p: a, q: a, r: a};\n", "", MAX),
        ),
        (
            "joins",
            pad(head, "const j{i} = [a, a, a].join(a);\n", "", MAX),
        ),
        (
            "array doubling",
            pad("let l = [1];\n", "l = l.concat(l);\n", "", MAX),
        ),
        (
            "spread doubling",
            pad("let l = [1];\n", "l = [...l, ...l];\n", "", MAX),
        ),
        (
            "string doubling",
            pad("let s = 'x';\n", "s = s + s;\n", "eval(s);\n", MAX),
        ),
        (
            "augmented doubling",
            pad("let s = 'x';\n", "s += s;\n", "", MAX),
        ),
        (
            "eval payloads",
            pad(head, "eval('var z = \"' + a + '\"');\n", "", MAX),
        ),
        (
            "exec strings",
            pad(
                "const cp = require('child_process');\nconst a = 'x'.repeat(262000);\n",
                "cp.execSync('echo ' + a);\n",
                "",
                MAX,
            ),
        ),
    ];
    for (name, code) in cases {
        check(name, Language::Javascript, &code);
    }
}

// ------------------------------------------------------------- random programs

const BASH_FRAGMENTS: &[&str] = &[
    "a=$a$a\n",
    "b=$a$b\n",
    "a=$b$b$b\n",
    "c=\"$a$b\"\n",
    "a+=$b\n",
    "arr=(${arr[@]} $a)\n",
    "arr+=(\"$b\")\n",
    "b=${a//x/$a}\n",
    "b=${a^^}\n",
    "a=$(echo $a $b)\n",
    "eval \"b=$a\"\n",
    "eval :\n",
    "bash -c \"$a\"\n",
    "echo \"$a\" > f\n",
    "cat f f >> f\n",
    "a=$(cat f)\n",
    "echo $a $a $b | base64 -d | sh\n",
    "printf '%s%s' \"$a\" \"$b\"\n",
    "f() { a=$a$b; }\nf\n",
    "for i in $a; do b=$b$i; done\n",
];

const PY_FRAGMENTS: &[&str] = &[
    "a = a + a\n",
    "b = a + b\n",
    "a = b * 3\n",
    "c = f'{a}{b}'\n",
    "a += b\n",
    "l = l + l\n",
    "l = [a, b] + l\n",
    "b = '%s%s' % (a, b)\n",
    "b = ''.join([a, b, a])\n",
    "b = a.replace('x', a)\n",
    "exec(a)\n",
    "eval(b)\n",
    "import os\nos.system(a)\n",
    "def f():\n    return a + b\n",
    "print(a, b, a, b)\n",
    "t = (a, b, a, b)\n",
];

const JS_FRAGMENTS: &[&str] = &[
    "a = a + a;\n",
    "b = a + b;\n",
    "a = b.repeat(3);\n",
    "c = `${a}${b}`;\n",
    "a += b;\n",
    "l = l.concat(l);\n",
    "l = [...l, a, b];\n",
    "b = [a, b, a].join(a);\n",
    "b = a.replace(/x/g, a);\n",
    "b = a.replaceAll('x', a);\n",
    "b = a.split('').reverse().join('');\n",
    "eval(a);\n",
    "Function(b)();\n",
    "require('child_process').execSync(a);\n",
    "o = {p: a, q: b, r: o};\n",
    "console.log(a, b, a, b);\n",
];

fn program(language: Language, picks: &[usize], target: usize) -> String {
    let (head, frags): (&str, &[&str]) = match language {
        Language::Bash => ("a=x\nb=y\narr=(x)\n", BASH_FRAGMENTS),
        Language::Python => ("a = 'x'\nb = 'y'\nl = [1]\n", PY_FRAGMENTS),
        Language::Javascript => ("let a = 'x', b = 'y', c, o = {}, l = [1];\n", JS_FRAGMENTS),
    };
    let block: String = picks.iter().map(|&i| frags[i % frags.len()]).collect();
    if block.is_empty() {
        return head.to_string();
    }
    let mut code = head.to_string();
    while code.len() + block.len() <= target {
        code.push_str(&block);
    }
    code
}

proptest! {
    // Each case analyses up to 1 MiB in a debug build: few cases, and a
    // short shrink so a failure reports in minutes, not an hour.
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 16, ..ProptestConfig::default() })]

    /// Random programs built from growth and copy fragments, repeated up to
    /// a random size of at most max_code: within the ceiling and the budget.
    #[test]
    fn random_growth_programs_stay_within_the_ceiling(
        lang in 0usize..3,
        picks in proptest::collection::vec(0usize..32, 1..12),
        target in 64usize..=Budget::DEFAULT_MAX_BYTES,
    ) {
            let language = Language::ALL[lang];
        let code = program(language, &picks, target);
        check("random program", language, &code);
    }
}
