#!/usr/bin/env python3
"""Soak test of `cordon serve` (not part of CI).

Mixed benign and abusive submissions through the gateway at a fixed
concurrency for a number of minutes, each answer checked against what that
payload must end with. Reports executions, failures, the gateway's RSS and
open descriptors after warm-up and at the end, and `cordon audit verify`.
Targets: 0 lost, RSS growth within 20% after warm-up, descriptors flat.

The gateway keeps finished executions (and their output events) in memory for
`retain_finished`; until that window has filled, growth is expected and says
nothing about leaks. So the soak runs the gateway with a short window
(`--retain`, 2 minutes by default) and the warm-up lasts the window plus one
minute; RSS and descriptors are also sampled every 10 s and reported per
5 minutes, so a slow climb shows as a trend and not only as two numbers.

    python3 scripts/soak.py                       # 30 minutes, concurrency 8, release build
    python3 scripts/soak.py --minutes 5 --cordon target/debug/cordon

The abusive payloads run only inside cordon's sandboxes; this script never
executes them itself, it only sends them to the gateway.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PERMISSIVE = """apiVersion: cordon.dev/v1
kind: Policy
metadata: { name: soak-permissive }
thresholds: { review: 100, deny: 100 }
runtimes:
  python:
    image: cordon/python:3.11
    limits: { cpus: 0.5, memory: 128Mi, pids: 32, wall: 4s, cpu_time: 2s, output: 64Ki, tmpfs: 8Mi }
  javascript:
    image: cordon/node:18
    limits: { cpus: 0.5, memory: 128Mi, pids: 32, wall: 4s, cpu_time: 2s, output: 64Ki, tmpfs: 8Mi }
  bash:
    image: cordon/bash:5
    limits: { cpus: 0.5, memory: 128Mi, pids: 32, wall: 4s, cpu_time: 2s, output: 64Ki, tmpfs: 8Mi }
"""

# (name, policy, language, code, accepted HTTP statuses, accepted termination reasons)
PAYLOADS = [
    ("py-print", "default", "python", "print(6*7)", {200}, {"exited"}),
    ("js-print", "default", "javascript", "console.log(6*7)", {200}, {"exited"}),
    ("sh-echo", "default", "bash", "echo $((6*7))", {200}, {"exited"}),
    ("py-compute", "default", "python", "print(sum(i*i for i in range(200000)))", {200}, {"exited"}),
    ("py-denied", "default", "python", "import os\nos.system('id')\n", {403, 202}, set()),
    ("fork-bomb", "soak-permissive", "bash", ":(){ :|:& };:", {200}, {"pids", "timeout", "cpu_time", "exited"}),
    ("memory-bomb", "soak-permissive", "python", "b=[]\nwhile True: b.append(bytearray(16<<20))\n", {200}, {"oom", "timeout"}),
    ("cpu-spin", "soak-permissive", "python", "while True: pass\n", {200}, {"cpu_time", "timeout"}),
    ("output-flood", "soak-permissive", "python", "import sys\nwhile True: sys.stdout.write('x'*65536)\n", {200}, {"output_limit"}),
    ("sleep-forever", "soak-permissive", "bash", "sleep infinity", {200}, {"timeout"}),
    ("net-connect", "soak-permissive", "python",
     "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e.errno)\n",
     {200}, {"exited"}),
    ("rootfs-write", "soak-permissive", "python",
     "try:\n    open('/etc/x','w')\n    print('WROTE')\nexcept OSError as e:\n    print('refused', e.errno)\n", {200}, {"exited"}),
]


def proc_status(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def request(port, method, path, key, body=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, raw.decode("utf-8", "replace")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.executions = 0
        self.failures = []
        self.ids = set()
        self.by_payload = {}
        self.refused = 0

    def add(self, name, ok, why, ident):
        with self.lock:
            self.executions += 1
            self.by_payload[name] = self.by_payload.get(name, 0) + 1
            if ident:
                self.ids.add(ident)
            if not ok:
                self.failures.append(f"{name}: {why}")


def worker(port, key, stop_at, tally, seed):
    rng = random.Random(seed)
    while time.time() < stop_at:
        name, policy, lang, code, statuses, reasons = rng.choice(PAYLOADS)
        body = {"language": lang, "code": code, "policy": policy}
        try:
            status, answer = request(port, "POST", "/v1/executions", key, body)
        except Exception as e:  # noqa: BLE001 - any transport failure is a failure
            tally.add(name, False, f"transport: {e}", None)
            continue
        if status == 503 and isinstance(answer, dict) and answer.get("error", {}).get("code") == "host_overloaded":
            with tally.lock:
                tally.refused += 1
            time.sleep(0.2)
            continue
        ident = None
        if isinstance(answer, dict):
            ident = answer.get("id") or answer.get("execution_id")
        ok = status in statuses
        why = f"HTTP {status}: {str(answer)[:300]}"
        if ok and status == 200:
            result = answer.get("result") or {}
            reason = result.get("termination_reason")
            out = result.get("stdout", "")
            ok = reason in reasons and "CONNECTED" not in out and "WROTE" not in out
            if result.get("audit_error"):
                ok, why = False, f"audit_error: {result['audit_error']}"
            else:
                why = f"ended {reason}: {str(result.get('detail'))[:200]}"
        tally.add(name, ok, why, ident)


def cordon(binary, env, *args):
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--retain", type=float, default=120.0, help="the gateway's retain_finished, in seconds (default 120)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds of load before the reference RSS sample (default: --retain plus 60 s)")
    ap.add_argument("--cordon", default=os.path.join(ROOT, "target/release/cordon"))
    ap.add_argument("--port", type=int, default=18090)
    args = ap.parse_args()

    binary = args.cordon
    if binary == os.path.join(ROOT, "target/release/cordon"):
        subprocess.run(["cargo", "build", "--release", "--bin", "cordon"], cwd=ROOT, check=True)
    total = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else args.retain + 60.0

    work = tempfile.mkdtemp(prefix="cordon-soak-")
    env = dict(os.environ)
    env["CORDON_AUDIT_URL"] = f"sqlite://{work}/audit.db"
    env["CORDON_AUDIT_KEY_FILE"] = f"{work}/audit.key"
    env["CORDON_LOG"] = "warn"
    pol = os.path.join(work, "policies")
    shutil.copytree(os.path.join(ROOT, "policies"), pol)
    with open(os.path.join(pol, "soak-permissive.yaml"), "w") as f:
        f.write(PERMISSIVE)
    with open(os.path.join(work, "serve.yaml"), "w") as f:
        f.write(
            f"listen: 127.0.0.1:{args.port}\npolicies_dir: {pol}\n"
            "rate_limits:\n  default: { concurrent: 1000, per_hour: 100000000 }\n"
            "admission: { max_concurrent: 8, queue: 16, queue_timeout: 60s }\n"
            f"retain_finished: {int(args.retain)}s\n"
        )
    key = cordon(binary, env, "keys", "create", "--tenant", "soak", "--role", "submitter").stdout.strip()
    log = open(os.path.join(work, "serve.log"), "w")
    server = subprocess.Popen([binary, "serve", "--config", os.path.join(work, "serve.yaml")], env=env, stderr=log)
    try:
        for _ in range(600):
            try:
                if request(args.port, "GET", "/healthz", key, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            sys.exit("soak: the gateway did not come up")
        idle = proc_status(server.pid)

        tally = Tally()
        t0 = time.time()
        stop_at = t0 + total
        threads = [
            threading.Thread(target=worker, args=(args.port, key, stop_at, tally, i), daemon=True)
            for i in range(args.concurrency)
        ]
        for t in threads:
            t.start()
        samples = []  # (seconds since start, rss, fds, executions)
        warm = None
        while any(t.is_alive() for t in threads):
            time.sleep(10)
            now = time.time() - t0
            rss, fds = proc_status(server.pid)
            samples.append((now, rss, fds, tally.executions))
            if warm is None and now >= warmup:
                warm, warm_execs = (rss, fds), tally.executions
        if warm is None:
            sys.exit(f"soak: the run ({args.minutes} min) ended before the warm-up ({warmup:.0f} s); use a longer run")
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        time.sleep(3)  # let the last removals finish; descriptors are counted idle
        end = proc_status(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        log.close()

    rows = json.loads(cordon(binary, env, "audit", "query", "--limit", "100000000", "--format", "json").stdout)
    recorded = {r["id"]: r for r in rows}
    lost = [i for i in tally.ids if i not in recorded or not recorded[i].get("termination_reason")]
    unfinished = [r["id"] for r in rows if not r.get("termination_reason")]
    verify = cordon(binary, env, "audit", "verify")
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=cordon.execution"], capture_output=True, text=True).stdout.split()

    growth = (end[0] - warm[0]) / warm[0] * 100 if warm[0] else 0.0
    print(f"duration: {elapsed/60:.1f} min, concurrency {args.concurrency}, warm-up {warmup:.0f} s ({warm_execs} executions)")
    print(f"executions answered: {tally.executions} ({tally.executions/elapsed:.2f}/s); refused host_overloaded and retried: {tally.refused}")
    print("per payload: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.by_payload.items())))
    print(f"failures: {len(tally.failures)}")
    for f in tally.failures[:20]:
        print(f"  {f}")
    print(f"recorded: {len(rows)} executions; lost: {len(lost)}; unfinished: {len(unfinished)}; containers left: {len(left)}")
    print(f"gateway RSS: idle {idle[0]/2**20:.1f} MiB, after warm-up {warm[0]/2**20:.1f} MiB, end {end[0]/2**20:.1f} MiB ({growth:+.1f}% after warm-up)")
    print(f"gateway open descriptors: idle {idle[1]}, after warm-up {warm[1]}, end {end[1]}")
    after = [x for x in samples if x[0] >= warmup]
    print(f"under load after warm-up: RSS {min(x[1] for x in after)/2**20:.1f}-{max(x[1] for x in after)/2**20:.1f} MiB, descriptors {min(x[2] for x in after)}-{max(x[2] for x in after)}")
    print("per 5 minutes (minute: RSS MiB, descriptors, executions so far):")
    for x in samples:
        if int(x[0]) // 300 != int(x[0] - 10) // 300 or x is samples[-1]:
            print(f"  {x[0]/60:5.1f}: {x[1]/2**20:6.1f}, {x[2]:3d}, {x[3]}")
    print(f"audit verify: {'ok' if verify.returncode == 0 else 'FAILED'}: {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()}")
    bad = lost or unfinished or tally.failures or verify.returncode != 0 or left or growth > 20 or end[1] > warm[1] + 4
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
