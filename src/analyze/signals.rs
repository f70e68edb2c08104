//! Built-in detectors ("signals"). An analyzer emits a [`FactKind::Signal`]
//! fact with one of these ids when it sees a technique that no single name
//! captures; policies match them with `match: { signal: [...] }`.
//! Ids are stable: never change what an id means, add a new one instead.
//!
//! [`FactKind::Signal`]: crate::analyze::FactKind::Signal

/// Every signal id an analyzer may emit, with a one-line meaning.
/// Policy validation rejects `signal:` patterns that match none of these.
pub const KNOWN: &[(&str, &str)] = &[
    ("dynamic-code", "code built or evaluated at run time (eval, exec, Function, vm, bash eval)"),
    ("computed-name", "a module, attribute, function or command name computed at run time and not resolvable statically (a shell command name only when it comes from the network, a decoder, host data or run-time input)"),
    ("decode-exec", "decoded data (base64, hex, rot13, char codes) flows into code execution or a shell"),
    ("decoded-payload", "a constant payload was decoded and analysed; its own facts carry the chain in `via`"),
    ("string-obfuscation", "strings assembled from fragments, char codes or escapes to hide a name"),
    ("reflection", "access to interpreter internals: globals(), __builtins__, __subclasses__, process.binding"),
    ("pipe-to-shell", "data piped into an interpreter: `curl ... | sh`, `... | python`"),
    ("variable-command", "a shell command whose name is spliced from fragments (`$a$b`) or comes from the network, a decoder, host data or run-time input; `\"$@\"`, `\"$EDITOR\"` and the script's own constants are not"),
    ("fork-bomb", "a function or loop that spawns copies of itself without bound"),
    ("recursive-delete-root", "recursive deletion of /, ~, or a top-level system directory"),
    ("reverse-shell", "a shell or interpreter wired to a network socket"),
    ("setuid", "setting setuid or setgid bits"),
    ("env-harvest", "reading the whole environment (secrets harvesting)"),
    ("sensitive-path", "access to credentials, system configuration or container-escape paths"),
    ("cloud-metadata", "the cloud instance metadata address 169.254.169.254 or its names"),
    ("infinite-loop", "an unconditional loop with no exit"),
    ("download-exec", "data fetched from the network (or a file it was saved to) flows into code execution or a shell"),
    ("resource-exhaustion", "a constant allocation or repetition far beyond any sandbox memory limit"),
    ("sensitive-write", "a system, credential or startup file opened for writing, copied over or linked"),
    ("exfiltration", "secrets (environment, credential files, secret variables) reach a network sender"),
    ("kill-all", "signals every process at once (kill -9 -1, kill 1, killall5)"),
    ("log-tampering", "truncates, overwrites or deletes system logs or shell history, or vacuums the journal"),
    ("security-disable", "disables auditing, SELinux/AppArmor, a firewall, a logging or security service, or an exploit mitigation such as ASLR"),
    ("timestomp", "sets file timestamps outside the scratch directories, or sets the system clock"),
    ("weaken-permissions", "makes system paths world-writable or changes their immutable attributes (chattr, chmod a+w)"),
    ("system-shutdown", "shuts down, reboots or halts the machine, or switches it to rescue mode"),
    ("encrypt-files", "encrypts files outside the scratch directories (gpg -c, openssl enc, 7z -p, ccencrypt): data encrypted for impact"),
    ("credential-search", "searches the file system for credentials by name or keyword (find / -name id_rsa, grep -r password /etc)"),
    ("network-transfer", "a download tool saves files, sends data, goes through a proxy or borrows another client's user agent (more than a fetch into the script)"),
    ("network-server", "starts a network server or listener (python -m http.server, php -S, nc -l, socat TCP-LISTEN)"),
    ("analysis-bound", "a folded value, or all folding of one analysis, went past the analyzer's memory bound; what lies past it is unknown"),
    ("obfuscator-shape", "the structure obfuscation tools leave: a string array rotated with push(shift()), _0x-renamed identifiers, literal coercions (!![], +!!false, []+{})"),
    ("decode-loop", "a loop that XORs character codes against a cycling key or back into text (a decoder)"),
    ("interactive-shell", "starts a shell that reads its commands from the terminal (bash -i, a bare sh through nice/find -exec/awk system()/expect spawn/vim :!)"),
    ("privileged-shell", "starts a shell in privileged mode (sh -p, bash -p, sh -o privileged), which keeps a setuid owner's rights"),
    ("embedded-network", "a program of another interpreter inside a shell command (perl -e, ruby -e, php -r, lua -e, Tcl, zsh/net/tcp) opens a socket or fetches a URL"),
];

/// Whether `id` is a known signal.
pub fn is_known(id: &str) -> bool {
    KNOWN.iter().any(|(k, _)| *k == id)
}
