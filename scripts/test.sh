#!/usr/bin/env bash
# The whole test suite, as CI runs it (see .ci/run):
#
#   scripts/test.sh [--skip-setup]
#
# 1. scripts/setup.sh --with-postgres --cargo=none (packages, Docker engine, runtime images;
#    no separate cargo build: the test build below compiles what it needs)
# 2. scripts/postgres.sh starts a throwaway Postgres on loopback and prints its URL, which
#    is exported as CORDON_TEST_POSTGRES_URL
# 3. cargo fmt --check, cargo nextest run (or cargo test) over lib, bins and tests,
#    cargo test --doc, cargo clippy --all-targets -- -D warnings
#
# Every check in step 3 runs even when an earlier one fails, so one CI run reports all
# problems; the script exits non-zero if any failed. fmt goes first because it takes a
# second and needs no build.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
cd "$REPO_ROOT"

SKIP_SETUP=0
for arg in "$@"; do
    case "$arg" in
        --skip-setup) SKIP_SETUP=1 ;;
        -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { printf 'test: error: %s\n' "$*" >&2; exit 1; }
STARTED=$SECONDS

if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo is not installed (a Rust toolchain >= 1.88 is needed)"

if [[ "$SKIP_SETUP" == 0 ]]; then
    bash "$REPO_ROOT/scripts/setup.sh" --with-postgres --cargo=none || die "machine setup failed (see above)"
fi

# --- Postgres ----------------------------------------------------------------------------

printf '==> starting Postgres (scripts/postgres.sh)\n'
if [[ -n "${CORDON_TEST_POSTGRES_URL:-}" ]]; then
    printf '    using CORDON_TEST_POSTGRES_URL from the environment\n'
else
    [[ -f "$REPO_ROOT/scripts/postgres.sh" ]] ||
        die "scripts/postgres.sh is missing: it should start Postgres on loopback and print its URL (or set CORDON_TEST_POSTGRES_URL)"
    pg_out="$(bash "$REPO_ROOT/scripts/postgres.sh" </dev/null)" || die "scripts/postgres.sh failed (exit $?)"
    CORDON_TEST_POSTGRES_URL="$(printf '%s\n' "$pg_out" | grep -E '^postgres(ql)?://' | tail -n 1 || true)"
    [[ -n "$CORDON_TEST_POSTGRES_URL" ]] ||
        die "scripts/postgres.sh printed no postgres:// URL; it printed: $pg_out"
fi
export CORDON_TEST_POSTGRES_URL
# Print the URL without its password.
printf '    %s\n' "$(printf '%s' "$CORDON_TEST_POSTGRES_URL" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')"

# --- checks ------------------------------------------------------------------------------

RESULTS=()
FAILED=0
check() {
    local name="$1" started=$SECONDS rc=0
    shift
    printf '\n==> %s\n    $ %s\n' "$name" "$*"
    "$@" || rc=$?
    local took=$((SECONDS - started))
    if [[ $rc -eq 0 ]]; then
        RESULTS+=("$(printf 'ok    %-22s %4ds' "$name" "$took")")
    else
        RESULTS+=("$(printf 'FAIL  %-22s %4ds  (exit %d)' "$name" "$took" "$rc")")
        FAILED=$((FAILED + 1))
    fi
    return 0
}

# Test targets are named instead of --all-targets: bench targets use their own harness
# (harness = false) and ignore nextest's `--list`, so listing them would run the whole
# benchmark. clippy --all-targets below still compiles and lints the benches.
TEST_TARGETS=(--lib --bins --tests)
check "rustfmt" cargo fmt --all --check
if cargo nextest --version >/dev/null 2>&1; then
    check "tests (nextest)" cargo nextest run --workspace "${TEST_TARGETS[@]}" --no-fail-fast
else
    printf '\n(cargo-nextest is not installed; falling back to cargo test)\n'
    check "tests (cargo test)" cargo test --workspace "${TEST_TARGETS[@]}" --no-fail-fast
fi
check "doc tests" cargo test --workspace --doc
check "clippy" cargo clippy --workspace --all-targets -- -D warnings

printf '\n==> summary (%ds in all)\n' "$((SECONDS - STARTED))"
printf '    %s\n' "${RESULTS[@]}"
if [[ $FAILED -gt 0 ]]; then
    printf '%d check(s) failed\n' "$FAILED"
    exit 1
fi
printf 'all checks passed\n'
