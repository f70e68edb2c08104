#!/usr/bin/env bash
# Prepare a Debian bookworm machine to build, test and demo cordon. Idempotent: every step
# checks first and does nothing when its work is already done.
#
#   scripts/setup.sh [--with-postgres] [--cargo=release|debug|none] [--skip-images]
#
# Steps: packages (apt: docker.io, debootstrap, bash-completion for the Bash parse corpus, and
# postgresql with --with-postgres; only what is missing), cgroups, the Docker engine (started
# in the background when `docker info` fails; log in /var/log/cordon-dockerd.log), the runtime
# images (images/build.sh all), then `cargo build` (release by default: that is what
# scripts/demo.sh runs).
#
# Runs as root on a fresh machine. Without root it still works when nothing needs
# installing or starting (e.g. a developer in the docker group), and says so otherwise.
# Never downloads and runs installers: packages come from the configured apt sources only.
# shellcheck disable=SC1091 # /etc/os-release is read at run time on purpose
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly DOCKERD_LOG=/var/log/cordon-dockerd.log
readonly DOCKERD_WAIT_SECONDS=30

WITH_POSTGRES=0
CARGO_PROFILE=release
SKIP_IMAGES=0

STEP=0
SETUP_STARTED=$SECONDS
STEP_STARTED=$SECONDS

log() { printf '    %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

step() {
    STEP=$((STEP + 1))
    STEP_STARTED=$SECONDS
    printf '==> [%d] %s\n' "$STEP" "$*"
}
step_done() { printf '    done in %ds\n' "$((SECONDS - STEP_STARTED))"; }

usage() {
    sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

for arg in "$@"; do
    case "$arg" in
        --with-postgres) WITH_POSTGRES=1 ;;
        --cargo=release | --cargo=debug | --cargo=none) CARGO_PROFILE="${arg#--cargo=}" ;;
        --skip-images) SKIP_IMAGES=1 ;;
        -h | --help) usage ;;
        *) printf 'setup: unknown argument: %s\n' "$arg" >&2; usage ;;
    esac
done

readonly SCRIPT_ARGS="$*"
is_root() { [[ $(id -u) -eq 0 ]]; }

need_root() {
    is_root || die "$1 needs root; run: sudo $0 $SCRIPT_ARGS"
}

# --- 1. machine --------------------------------------------------------------------------

step "checking the machine"
OS_ID=unknown OS_LIKE="" OS_CODENAME="" OS_NAME="unknown system"
if [[ -r /etc/os-release ]]; then
    OS_ID="$(. /etc/os-release && echo "${ID:-unknown}")"
    OS_LIKE="$(. /etc/os-release && echo "${ID_LIKE:-}")"
    OS_CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    OS_NAME="$(. /etc/os-release && echo "${PRETTY_NAME:-$OS_ID}")"
fi
IS_DEBIAN=0
if [[ "$OS_ID" == debian || " $OS_LIKE " == *" debian "* ]]; then
    IS_DEBIAN=1
fi
log "$OS_NAME, $(uname -m), $(nproc) cores, running as $(id -un)"
[[ "$IS_DEBIAN" == 1 ]] || log "warning: not Debian; packages cannot be installed by this script"
[[ "$OS_ID" != debian || "$OS_CODENAME" == bookworm ]] ||
    log "warning: written for Debian bookworm, this is $OS_CODENAME"
# cargo installed by rustup is often not on PATH in non-login shells (CI, sudo).
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
    export PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
step_done

# --- 2. packages -------------------------------------------------------------------------

debootstrap_needed() {
    [[ "$SKIP_IMAGES" == 0 ]] &&
        [[ -z "${CORDON_BASE_PYTHON:-}" || -z "${CORDON_BASE_NODE:-}" || -z "${CORDON_BASE_BASH:-}" ]]
}

cgroups_mounted() {
    [[ -e /sys/fs/cgroup/cgroup.controllers || -d /sys/fs/cgroup/memory ]]
}

step "installing missing packages"
missing=()
# The CLI alone (as on a fresh CI machine) is not enough: the engine is dockerd.
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || [[ " ${missing[*]} " == *" docker.io "* ]] || missing+=(docker.io)
if debootstrap_needed; then
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [[ -s /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
fi
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [[ "$CARGO_PROFILE" != none ]] && ! command -v cc >/dev/null 2>&1; then
    # libsqlite3-sys and tree-sitter compile C.
    missing+=(gcc libc6-dev)
fi
if [[ "$WITH_POSTGRES" == 1 ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi
cgroups_mounted || command -v cgroupfs-mount >/dev/null 2>&1 || missing+=(cgroupfs-mount)
# The Bash parse test (tests/analyze_bash_debian.rs) reads the real scripts this package ships.
[[ -e /usr/share/bash-completion/bash_completion ]] || missing+=(bash-completion)

if [[ ${#missing[@]} -eq 0 ]]; then
    log "nothing to install"
else
    log "missing: ${missing[*]}"
    [[ "$IS_DEBIAN" == 1 ]] || die "cannot install ${missing[*]} on $OS_NAME: this script uses apt on Debian bookworm; install them yourself"
    need_root "installing packages"
    export DEBIAN_FRONTEND=noninteractive
    # Keep package scripts from starting services: the engine is started below where its
    # log is captured, and Postgres is started by scripts/postgres.sh on its own port.
    created_policy_rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy_rc=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    log "apt-get update"
    apt-get update -q </dev/null | sed -u 's/^/      /' || die "apt-get update failed; check /etc/apt/sources.list.d and network access to the mirror"
    log "apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null 2>&1 | sed -u 's/^/      /' ||
        die "apt-get install ${missing[*]} failed (see above)"
    if [[ "$created_policy_rc" == 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi
step_done

# --- 3. cgroups --------------------------------------------------------------------------

if ! cgroups_mounted; then
    step "mounting cgroups"
    need_root "mounting cgroups"
    cgroupfs-mount || die "cgroupfs-mount failed; dockerd needs cgroups under /sys/fs/cgroup"
    step_done
fi

# --- 4. Docker engine --------------------------------------------------------------------

docker_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
    # $@: extra dockerd flags
    : >>"$DOCKERD_LOG"
    printf '\n--- %s: scripts/setup.sh starting dockerd %s\n' "$(date -Is)" "$*" >>"$DOCKERD_LOG"
    # setsid + nohup: the engine must outlive this script and its terminal.
    setsid nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local pid=$! waited=0
    while ((waited < DOCKERD_WAIT_SECONDS * 2)); do
        docker_up && { log "dockerd (pid $pid) is up after $((waited / 2))s"; return 0; }
        kill -0 "$pid" 2>/dev/null || { log "dockerd (pid $pid) exited"; return 1; }
        sleep 0.5
        waited=$((waited + 1))
    done
    log "dockerd (pid $pid) did not answer within ${DOCKERD_WAIT_SECONDS}s"
    kill "$pid" 2>/dev/null || true
    return 1
}

step "checking the Docker engine"
command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (apt-get install docker.io)"
if docker_up; then
    log "engine $(docker info --format '{{.ServerVersion}}') already running"
else
    if [[ -n "${DOCKER_HOST:-}" && "$DOCKER_HOST" != unix:///var/run/docker.sock ]]; then
        die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine in its place"
    fi
    need_root "starting dockerd"
    command -v dockerd >/dev/null 2>&1 || die "dockerd is missing (apt-get install docker.io)"
    log "docker info failed; starting dockerd in the background (log: $DOCKERD_LOG)"
    if ! start_dockerd; then
        # Machines without the iptables modules refuse the default bridge setup; cordon's
        # sandboxes run with network none and the image build needs no network, so an
        # engine without NAT rules is enough.
        if tail -n 40 "$DOCKERD_LOG" | grep -qi 'iptables'; then
            log "retrying with --iptables=false (iptables is unusable here)"
            start_dockerd --iptables=false || true
        fi
    fi
    if ! docker_up; then
        printf '    last lines of %s:\n' "$DOCKERD_LOG" >&2
        tail -n 25 "$DOCKERD_LOG" | sed -u 's/^/      /' >&2
        die "the Docker engine did not come up; the sandbox cannot run without it (see $DOCKERD_LOG)"
    fi
fi
step_done

# --- 5. runtime images -------------------------------------------------------------------

if [[ "$SKIP_IMAGES" == 0 ]]; then
    step "building runtime images (the first time 2.5 to 4 minutes, then seconds)"
    bash "$REPO_ROOT/images/build.sh" all 2>&1 | sed -u 's/^/    /' ||
        die "building the runtime images failed (see above)"
    step_done
fi

# --- 6. cargo build ----------------------------------------------------------------------

if [[ "$CARGO_PROFILE" != none ]]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo is not installed; install a Rust toolchain >= 1.88 (e.g. the rustup package or rustup.rs)"
    if [[ "$CARGO_PROFILE" == release ]]; then
        step "cargo build --release (first build takes several minutes on 2 cores)"
        (cd "$REPO_ROOT" && cargo build --release)
    else
        step "cargo build"
        (cd "$REPO_ROOT" && cargo build)
    fi
    step_done
fi

printf '==> setup finished in %ds\n' "$((SECONDS - SETUP_STARTED))"
