//! Network servers started from a command line: the one-liners that serve a
//! directory or open a listener (`python -m http.server`, `php -S`, `ruby
//! -run -e httpd`, `busybox httpd`, `openssl s_server`, `nc -l`, `socat
//! TCP-LISTEN:`). A pure classification of an unwrapped command; the
//! walker reports it as the `network-server` signal.

/// Python modules that serve files or mail when run with `-m`.
const PY_SERVER_MODULES: &[&str] = &[
    "http.server",
    "SimpleHTTPServer",
    "CGIHTTPServer",
    "uploadserver",
    "pyftpdlib",
    "smtpd",
    "aiosmtpd",
    "wsgiref.simple_server",
];

/// Whether the command starts a server listening on the network.
pub(super) fn starts_server(name: &str, texts: &[String]) -> bool {
    let has = |f: &str| texts.iter().any(|t| t == f);
    let py = name.starts_with("python") || name.starts_with("pypy");
    if py {
        return texts
            .windows(2)
            .any(|w| w[0] == "-m" && PY_SERVER_MODULES.contains(&w[1].as_str()))
            || texts.iter().any(|t| {
                t.strip_prefix("-m")
                    .is_some_and(|m| PY_SERVER_MODULES.contains(&m))
            });
    }
    if name.starts_with("php") {
        return texts
            .iter()
            .any(|t| t == "-S" || (t.starts_with("-S") && t.contains(':')));
    }
    if name.starts_with("ruby") {
        return texts
            .iter()
            .any(|t| t == "-run" || t.starts_with("-rwebrick"))
            && texts
                .iter()
                .any(|t| t.contains("httpd") || t.contains("WEBrick"));
    }
    match name {
        "httpd" | "lighttpd" | "mini_httpd" | "thttpd" | "darkhttpd" | "webfsd"
        | "busybox-httpd" => true,
        "openssl" => texts.first().is_some_and(|s| s == "s_server"),
        "nc" | "ncat" | "netcat" => texts.iter().any(|t| {
            t == "--listen" || (t.starts_with('-') && !t.starts_with("--") && t.contains('l'))
        }),
        "socat" => texts.iter().any(|t| {
            let l = t.to_ascii_lowercase();
            l.contains("-listen:") || l.starts_with("listen:")
        }),
        "http-server" | "serve" => !has("--help"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn servers() {
        assert!(starts_server("python3", &s(&["-m", "http.server", "8000"])));
        assert!(starts_server("python", &s(&["-m", "SimpleHTTPServer"])));
        assert!(starts_server("php", &s(&["-S", "0.0.0.0:8080"])));
        assert!(starts_server(
            "ruby",
            &s(&["-run", "-e", "httpd", ".", "-p", "8000"])
        ));
        assert!(starts_server("httpd", &s(&["-f", "-p", "8080"])));
        assert!(starts_server("nc", &s(&["-lvnp", "4444"])));
        assert!(starts_server(
            "socat",
            &s(&["TCP-LISTEN:80,fork", "STDOUT"])
        ));
        assert!(!starts_server("python3", &s(&["-m", "json.tool"])));
        assert!(!starts_server("python3", &s(&["-S", "x.py"])));
        assert!(!starts_server("ruby", &s(&["-S", "gem", "list"])));
        assert!(!starts_server("nc", &s(&["10.0.0.1", "80"])));
    }
}
