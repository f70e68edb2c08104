//! Credential access in the spellings a path check alone misses (issue 12
//! item 6; ATT&CK T1552, T1003.008): credential names given as bare
//! arguments (`ls .aws`, `find / -name id_rsa`, `locate .netrc`), recursive
//! keyword searches over system directories (`grep -ri password /etc`), and
//! sensitive paths inside code handed to another tool (`perl -e
//! 'open F,"/etc/shadow"'`, `vim -c ':r /etc/shadow'`, an `ed` script on
//! standard input).
//!
//! Pure functions over evaluated words and strings; the walker turns their
//! answers into signals. Paths themselves are classified in `paths.rs`.

use super::commands::RunCtx;
use super::paths;
use super::walk::Analyzer;
use super::words::Word;

/// Keywords that make a recursive search a hunt for secrets.
const SECRET_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd=",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "private key",
    "private_key",
    "begin rsa",
    "begin openssh",
    "begin ec private",
    "aws_access_key",
    "aws_secret",
    "akia",
    "credential",
];

/// Tools whose arguments are names or patterns to look for, not files.
const FINDERS: &[&str] = &[
    "find", "locate", "mlocate", "plocate", "slocate", "fd", "fdfind", "bfs",
];

/// Editors that read their commands from standard input (`ed`, `ex`, `vim -s
/// /dev/stdin`): a path in that script is a file the editor opens.
const STDIN_EDITORS: &[&str] = &["ed", "red", "ex", "vi", "vim", "nvim", "view", "vim.tiny"];

/// Whether `name` reads editing commands from standard input.
pub(super) fn edits_from_stdin(name: &str) -> bool {
    STDIN_EDITORS.contains(&name)
}

/// Bare arguments naming a credential (`ls ~/.aws` is a path and handled by
/// `paths::sensitive`; `cd ~; ls .aws` and `find / -name id_rsa` are not).
pub(super) fn names_credential(name: &str, args: &[Word]) -> bool {
    // ssh-keygen -f id_ed25519 creates a key; it reads no one's secret.
    if name == "ssh-keygen" {
        return false;
    }
    let finder = FINDERS.contains(&name);
    args.iter().any(|a| {
        let Some(t) = a.constant() else { return false };
        if t.starts_with("--exclude") {
            return false;
        }
        paths::names_credential(&t, finder)
    })
}

/// A recursive search for secret keywords outside the scratch directories.
pub(super) fn keyword_search(name: &str, args: &[Word]) -> bool {
    let texts: Vec<String> = args.iter().map(Word::known_text).collect();
    let recursive = match name {
        "grep" | "egrep" | "fgrep" => {
            texts.iter().any(|t| {
                matches!(t.as_str(), "--recursive" | "--dereference-recursive")
                    || t == "--directories=recurse"
                    || (t.starts_with('-')
                        && !t.starts_with("--")
                        && (t.contains('r') || t.contains('R')))
            }) || texts.windows(2).any(|w| w[0] == "-d" && w[1] == "recurse")
        }
        "rg" | "ag" | "ack" | "ack-grep" | "ugrep" => true,
        _ => return false,
    };
    if !recursive {
        return false;
    }
    let mut patterns: Vec<String> = Vec::new();
    let mut roots: Vec<&Word> = Vec::new();
    let mut i = 0;
    let mut opts = true;
    let takes_value = [
        "-e",
        "-f",
        "-m",
        "-A",
        "-B",
        "-C",
        "-d",
        "--include",
        "--exclude",
        "--exclude-dir",
        "-g",
        "--glob",
        "-t",
        "--type",
        "-T",
    ];
    while i < args.len() {
        let t = &texts[i];
        if opts && t == "--" {
            opts = false;
        } else if opts && (t == "-e" || t == "--regexp") {
            if let Some(p) = texts.get(i + 1) {
                patterns.push(p.clone());
            }
            i += 1;
        } else if opts && t.starts_with('-') && t.len() > 1 {
            if takes_value.contains(&t.as_str()) {
                i += 1;
            }
        } else if patterns.is_empty() && !texts.iter().any(|x| x == "-e" || x == "--regexp") {
            patterns.push(t.clone());
        } else {
            roots.push(&args[i]);
        }
        i += 1;
    }
    let keyword = patterns.iter().any(|p| {
        let l = p.to_ascii_lowercase();
        SECRET_KEYWORDS.iter().any(|k| l.contains(k))
    });
    let outside = roots.iter().any(|w| {
        w.constant()
            .is_some_and(|p| paths::is_pathlike(&p) && !paths::is_scratch(&p))
    });
    keyword && outside
}

/// Whether a find/locate looks for credential files by name.
pub(super) fn name_search(name: &str, args: &[Word]) -> bool {
    if !FINDERS.contains(&name) {
        return false;
    }
    let texts: Vec<String> = args.iter().map(Word::known_text).collect();
    if name == "find" || name == "bfs" {
        let name_tests = [
            "-name",
            "-iname",
            "-path",
            "-ipath",
            "-wholename",
            "-iwholename",
            "-regex",
            "-iregex",
            "-lname",
            "-ilname",
        ];
        return texts
            .windows(2)
            .any(|w| name_tests.contains(&w[0].as_str()) && paths::names_credential(&w[1], true));
    }
    texts
        .iter()
        .filter(|t| !t.starts_with('-'))
        .any(|t| paths::names_credential(t, true))
}

/// Absolute or home-relative paths written inside a longer string: code for
/// another interpreter, an editor command, a script fed on stdin. At most
/// 64 are returned.
pub(super) fn embedded_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let is_path_char = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | '_' | '-' | '/' | '~' | '*' | '?' | '[' | ']')
    };
    for token in text.split(|c: char| !is_path_char(c)) {
        if out.len() >= 64 {
            break;
        }
        // `~/.ssh` and `/etc/shadow`; a lone `/` or `//` separator is no path.
        let t = match token.find(['/', '~']) {
            Some(i) => &token[i..],
            None => continue,
        };
        if paths::is_pathlike(t) && t.len() > 2 {
            out.push(t.to_string());
        }
    }
    out
}

impl Analyzer<'_> {
    /// Credential access that a path check on the arguments misses: bare
    /// credential names, searches by name or keyword, and paths inside code
    /// or editor scripts. `data` is true for commands that only print their
    /// arguments (`echo`, `printf`), whose words are data, not file names.
    pub(super) fn credential_access(&mut self, name: &str, args: &[Word], rc: &RunCtx, data: bool) {
        let span = rc.span;
        if data {
            return;
        }
        if names_credential(name, args) {
            self.signal("sensitive-path", span);
        }
        if name_search(name, args) || keyword_search(name, args) {
            self.signal("credential-search", span);
        }
        let mut inner: Vec<String> = Vec::new();
        for a in args {
            if let Some(c) = a.constant() {
                // `cd / && cat etc/shadow`: a relative path is as sensitive
                // as the absolute one it names from `/` or `~`.
                let relative = !paths::is_pathlike(&c)
                    && c.contains('/')
                    && !c.starts_with('-')
                    && !c.contains("://")
                    && !c.contains(char::is_whitespace);
                if relative && paths::sensitive(&c).is_some() {
                    self.check_path(&paths::normalise(&c), span, true);
                }
                // A plain path argument is checked by the caller already.
                if !paths::is_pathlike(&c) || c.contains(char::is_whitespace) {
                    inner.extend(embedded_paths(&c));
                }
            }
        }
        if edits_from_stdin(name) {
            if let Some(t) = &rc.stdin.text {
                inner.extend(embedded_paths(t));
            }
        }
        for p in inner.iter().take(64) {
            let p = paths::normalise(p);
            if paths::sensitive(&p).is_some() {
                self.check_path(&p, span, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<Word> {
        v.iter().map(|s| Word::lit(*s)).collect()
    }

    #[test]
    fn searches() {
        assert!(name_search("find", &words(&["/", "-name", "id_rsa"])));
        assert!(name_search(
            "find",
            &words(&["/home", "-type", "d", "-name", ".gnupg"])
        ));
        assert!(name_search("find", &words(&["/", "-name", "shadow"])));
        assert!(name_search("locate", &words(&[".netrc"])));
        assert!(!name_search("find", &words(&[".", "-name", "*.py"])));
        assert!(keyword_search("grep", &words(&["-ri", "password", "/etc"])));
        assert!(keyword_search(
            "grep",
            &words(&["-r", "-e", "AKIA", "/home"])
        ));
        assert!(!keyword_search(
            "grep",
            &words(&["-ri", "password", "src/"])
        ));
        assert!(!keyword_search("grep", &words(&["-r", "curl", "/etc"])));
        assert!(!keyword_search(
            "grep",
            &words(&["password", "/etc/app.conf"])
        ));
        assert!(names_credential("ls", &words(&["-la", ".aws"])));
        assert!(!names_credential(
            "ssh-keygen",
            &words(&["-f", "id_ed25519"])
        ));
        assert!(!names_credential("grep", &words(&["shadow", "style.css"])));
    }

    #[test]
    fn paths_in_code() {
        assert_eq!(
            embedded_paths("open(F,\"/etc/shadow\"); print <F>"),
            ["/etc/shadow"]
        );
        assert_eq!(embedded_paths(":r /etc/shadow"), ["/etc/shadow"]);
        assert_eq!(embedded_paths("e ~/.ssh/id_rsa\n,p"), ["~/.ssh/id_rsa"]);
        assert!(embedded_paths("a / b // c").is_empty());
    }
}
