//! Names of environment variables that hold credentials.
//!
//! What it owns: the one list the Python and JavaScript analyzers judge
//! `os.getenv("...")` / `process.env.X` by when a value flows into an upload.
//! What it must not do: decide anything by itself; the analyzers turn a match
//! into a secret taint.

/// Environment variable names that hold credentials (`AWS_SECRET_ACCESS_KEY`,
/// `GITHUB_TOKEN`, `DB_PASSWORD`), as opposed to configuration (`HOME`, `TZ`).
pub fn is_secret_env(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSW",
        "_KEY",
        "KEY_",
        "APIKEY",
        "CREDENTIAL",
        "AUTH",
        "SESSION",
        "PRIVATE",
    ]
    .iter()
    .any(|w| n.contains(w))
}
