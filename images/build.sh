#!/usr/bin/env bash
# Build the cordon runtime images (cordon/python:3.11, cordon/node:18, cordon/bash:5)
# without any container registry.
#
#   bash images/build.sh [all|python|node|bash ...] [--force] [--verbose]
#
# How: a minimal Debian bookworm root filesystem per runtime is made with
# `debootstrap --variant=minbase --include=<runtime packages>` from the apt mirror this
# machine already uses, slimmed, cached as a tarball under $CORDON_CACHE_DIR
# (default /var/cache/cordon), imported as cordon/base-<runtime>:bookworm, and hardened by
# <runtime>/Dockerfile. The packages go in at debootstrap time so the docker build itself
# needs no network at all.
#
# Upstream bases: CORDON_BASE_PYTHON / CORDON_BASE_NODE / CORDON_BASE_BASH name an image
# (e.g. python:3.12-slim) to harden instead; then no debootstrap runs for that runtime.
#
# Idempotent: every image carries the label dev.cordon.recipe-hash, a sha256 over its
# Dockerfile, this script and the base identity. An image whose label matches is left alone.
#
# Self-contained on purpose: `cordon images build` embeds this script and the three
# Dockerfiles and runs them from a temporary directory, so nothing here may reach outside
# the directory this script lives in.
#
# Output: one result line per image on stdout ("cordon/python:3.11 up to date",
# "cordon/python:3.11 built in 12s"); progress and diagnostics on stderr.
#
# Environment:
#   CORDON_BASE_PYTHON, CORDON_BASE_NODE, CORDON_BASE_BASH  upstream base image per runtime
#   CORDON_CACHE_DIR       rootfs tarball cache (default /var/cache/cordon)
#   CORDON_DEBIAN_MIRROR   override the mirror read from /etc/apt/sources.list{,.d}
#   CORDON_IMAGES_VERBOSE  1 = stream debootstrap and docker build output to stderr
set -euo pipefail

readonly SUITE=bookworm
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_DIR SCRIPT_PATH
CACHE_DIR="${CORDON_CACHE_DIR:-/var/cache/cordon}"
VERBOSE="${CORDON_IMAGES_VERBOSE:-0}"
FORCE=0

say() { printf 'cordon-images: %s\n' "$*" >&2; }
die() { printf 'cordon-images: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,5p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- per-runtime recipe -------------------------------------------------------------------

image_tag() {
    case "$1" in
        python) echo "cordon/python:3.11" ;;
        node) echo "cordon/node:18" ;;
        bash) echo "cordon/bash:5" ;;
    esac
}

# Packages added to debootstrap's minbase (which already has bash 5.2, coreutils, tzdata).
# bookworm: python3 = 3.11, nodejs = 18.19.
include_packages() {
    case "$1" in
        python) echo "python3" ;;
        node) echo "nodejs" ;;
        bash) echo "" ;;
    esac
}

upstream_base() {
    case "$1" in
        python) echo "${CORDON_BASE_PYTHON:-}" ;;
        node) echo "${CORDON_BASE_NODE:-}" ;;
        bash) echo "${CORDON_BASE_BASH:-}" ;;
    esac
}

sha256_of_text() { sha256sum | cut -d' ' -f1; }
sha256_of_file() { sha256sum "$1" | cut -d' ' -f1; }

# --- environment checks -------------------------------------------------------------------

check_docker() {
    command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (Debian: apt-get install docker.io)"
    local err
    if ! err="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
        die "cannot reach the Docker engine: ${err##*$'\n'}
  start it (scripts/setup.sh does), or point DOCKER_HOST at a running engine"
    fi
    say "docker engine ${err} reachable"
    # docker.io 20.10 ships no buildx; a newer CLI then refuses BuildKit, so ask for the
    # classic builder unless buildx is really there. The Dockerfiles work with both.
    if [[ -z "${DOCKER_BUILDKIT:-}" ]] && ! docker buildx version >/dev/null 2>&1; then
        export DOCKER_BUILDKIT=0
    fi
}

check_debootstrap() {
    local var="CORDON_BASE_${1^^}"
    command -v debootstrap >/dev/null 2>&1 ||
        die "debootstrap is not installed (apt-get install debootstrap), or set $var to an upstream image"
    [[ $(id -u) -eq 0 ]] ||
        die "debootstrap needs root; run as root, or set $var to an upstream image"
}

# --- Debian mirror ------------------------------------------------------------------------

# The first "deb" source for $SUITE itself (not -updates/-security): one-line *.list
# files first, then deb822 *.sources stanzas. Files renamed to anything else are ignored,
# as apt ignores them.
debian_mirror() {
    if [[ -n "${CORDON_DEBIAN_MIRROR:-}" ]]; then
        echo "$CORDON_DEBIAN_MIRROR"
        return
    fi
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        uri="$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f")"
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        uri="$(awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && tolower(enabled) != "no" && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = ""; suites = ""; uris = ""; enabled = "yes"; key = ""
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { val = $0; sub(/^[ \t]+/, "", val)
                       if (key == "uris") uris = uris " " val; else if (key == "suites") suites = suites " " val
                       next }
            {
                key = tolower($0); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "suites") suites = val
                else if (key == "uris") uris = val
                else if (key == "enabled") enabled = val
            }
            END { if (!found) flush() }' "$f")"
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
    say "no apt source for $SUITE found in /etc/apt; falling back to http://deb.debian.org/debian"
    echo "http://deb.debian.org/debian"
}

# --- base images --------------------------------------------------------------------------

# Identity of the debootstrap recipe for one runtime. Deterministic and computed without
# running anything, so an up-to-date image is recognised in milliseconds.
rootfs_key() {
    local runtime="$1" mirror="$2"
    printf 'suite=%s\nvariant=minbase\ninclude=%s\nmirror=%s\nslim=%s\n' \
        "$SUITE" "$(include_packages "$runtime")" "$mirror" "$(declare -f slim_rootfs | sha256_of_text)" |
        sha256_of_text
}

# Drop what no program needs at run time and what would leak the build host.
slim_rootfs() {
    local dir="$1"
    find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
        "$dir"/usr/share/lintian "$dir"/usr/share/linda \
        "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
        "$dir"/var/cache/ldconfig/aux-cache "$dir"/var/log/* "$dir"/root/.bash_history
    : >"$dir/etc/hostname"
    : >"$dir/etc/resolv.conf"
    rm -f "$dir/etc/machine-id" "$dir/var/lib/dbus/machine-id"
}

cleanup_rootfs_dir() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    # An interrupted debootstrap can leave proc/sys mounted inside the target.
    awk -v d="$dir" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$dir"
}

make_rootfs_tarball() {
    local runtime="$1" mirror="$2" tarball="$3"
    local include work log started
    include="$(include_packages "$runtime")"
    mkdir -p "$CACHE_DIR/debs"
    work="$(mktemp -d "$CACHE_DIR/rootfs-$runtime.XXXXXX")"
    log="$CACHE_DIR/debootstrap-$runtime.log"
    # shellcheck disable=SC2064 # expand now: the trap must clean this very directory
    trap "cleanup_rootfs_dir '$work'" EXIT
    say "building $runtime base rootfs with debootstrap from $mirror (about 1 minute; log: $log)..."
    started=$SECONDS
    local args=(--variant=minbase --cache-dir="$CACHE_DIR/debs")
    [[ -n "$include" ]] && args+=(--include="$include")
    if [[ "$VERBOSE" == 1 ]]; then
        debootstrap "${args[@]}" "$SUITE" "$work/root" "$mirror" 2>&1 | tee "$log" >&2 ||
            die "debootstrap failed for $runtime (log: $log)"
    elif ! debootstrap "${args[@]}" "$SUITE" "$work/root" "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "debootstrap failed for $runtime (full log: $log)"
    fi
    slim_rootfs "$work/root"
    tar -C "$work/root" --numeric-owner -c . | gzip -1 >"$tarball.partial"
    mv "$tarball.partial" "$tarball"
    cleanup_rootfs_dir "$work"
    trap - EXIT
    say "$runtime rootfs ready in $((SECONDS - started))s: $tarball ($(du -h "$tarball" | cut -f1))"
}

# Prints the base image reference to build FROM, and sets BASE_IDENTITY.
ensure_debootstrap_base() {
    local runtime="$1"
    local mirror key tag tarball current
    mirror="$(debian_mirror)"
    key="$(rootfs_key "$runtime" "$mirror")"
    tag="cordon/base-$runtime:$SUITE"
    BASE_IDENTITY="debootstrap:$key"
    current="$(docker image inspect --format '{{ index .Config.Labels "dev.cordon.rootfs-key" }}' "$tag" 2>/dev/null || true)"
    if [[ "$current" == "$key" && "$FORCE" == 0 ]]; then
        BASE_REF="$tag"
        return
    fi
    tarball="$CACHE_DIR/rootfs-$runtime-$SUITE-${key:0:16}.tar.gz"
    if [[ ! -s "$tarball" || "$FORCE" == 1 ]]; then
        check_debootstrap "$runtime"
        mkdir -p "$CACHE_DIR"
        make_rootfs_tarball "$runtime" "$mirror" "$tarball"
    else
        say "using cached $runtime rootfs $tarball"
    fi
    say "importing $tarball as $tag..."
    local old
    old="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    docker import \
        --change "LABEL dev.cordon.rootfs-key=$key" \
        --change "LABEL dev.cordon.suite=$SUITE" \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$tarball" "$tag" >/dev/null
    remove_if_dangling "$old"
    # Tarballs of older recipes are dead weight.
    find "$CACHE_DIR" -maxdepth 1 -name "rootfs-$runtime-$SUITE-*.tar.gz" ! -path "$tarball" -delete
    BASE_REF="$tag"
}

ensure_upstream_base() {
    local ref="$1" id
    if ! id="$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null)"; then
        say "pulling upstream base $ref..."
        docker pull "$ref" >&2 || die "cannot pull $ref (no registry access?); unset the CORDON_BASE_* variable to build from Debian with debootstrap"
        id="$(docker image inspect --format '{{.Id}}' "$ref")"
    fi
    # The image id, not just the name: a re-pulled python:3.12-slim is a new base.
    BASE_IDENTITY="upstream:$ref@$id"
    BASE_REF="$ref"
}

remove_if_dangling() {
    local id="$1"
    [[ -n "$id" ]] || return 0
    if [[ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null)" == 0 ]]; then
        docker rmi "$id" >/dev/null 2>&1 || true
    fi
}

# --- runtime images -----------------------------------------------------------------------

recipe_hash() {
    local runtime="$1"
    printf 'cordon-image-recipe/1\ndockerfile=%s\nbuild.sh=%s\nbase=%s\n' \
        "$(sha256_of_file "$SCRIPT_DIR/$runtime/Dockerfile")" \
        "$(sha256_of_file "$SCRIPT_PATH")" \
        "$BASE_IDENTITY" | sha256_of_text
}

build_runtime() {
    local runtime="$1"
    local tag upstream hash current started log old
    tag="$(image_tag "$runtime")"
    [[ -f "$SCRIPT_DIR/$runtime/Dockerfile" ]] || die "missing $SCRIPT_DIR/$runtime/Dockerfile"
    started=$SECONDS
    upstream="$(upstream_base "$runtime")"
    if [[ -n "$upstream" ]]; then
        ensure_upstream_base "$upstream"
    else
        # Only the recipe identity is needed to decide whether anything must happen.
        BASE_IDENTITY="debootstrap:$(rootfs_key "$runtime" "$(debian_mirror)")"
        BASE_REF=""
    fi
    hash="$(recipe_hash "$runtime")"
    current="$(docker image inspect --format '{{ index .Config.Labels "dev.cordon.recipe-hash" }}' "$tag" 2>/dev/null || true)"
    if [[ "$current" == "$hash" && "$FORCE" == 0 ]]; then
        echo "$tag up to date"
        return
    fi
    [[ -n "$BASE_REF" ]] || ensure_debootstrap_base "$runtime"
    hash="$(recipe_hash "$runtime")"
    say "building $tag from $BASE_REF..."
    old="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    log="$(mktemp "${TMPDIR:-/tmp}/cordon-build-$runtime.XXXXXX.log")"
    local args=(build --pull=false --force-rm
        --build-arg "BASE=$BASE_REF"
        --label "dev.cordon.recipe-hash=$hash"
        --label "dev.cordon.base=$BASE_REF"
        -t "$tag" -f "$SCRIPT_DIR/$runtime/Dockerfile" "$SCRIPT_DIR/$runtime")
    [[ "$FORCE" == 1 ]] && args+=(--no-cache)
    if [[ "$VERBOSE" == 1 ]]; then
        docker "${args[@]}" 2>&1 | tee "$log" >&2 || die "docker build of $tag failed (log: $log)"
    elif ! docker "${args[@]}" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "docker build of $tag failed (full log: $log)"
    fi
    rm -f "$log"
    remove_if_dangling "$old"
    echo "$tag built in $((SECONDS - started))s ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# --- main ---------------------------------------------------------------------------------

main() {
    local targets=() arg
    for arg in "$@"; do
        case "$arg" in
            all) targets+=(python node bash) ;;
            python | node | bash) targets+=("$arg") ;;
            --force) FORCE=1 ;;
            --verbose | -v) VERBOSE=1 ;;
            -h | --help) usage ;;
            *) say "unknown argument: $arg"; usage ;;
        esac
    done
    [[ ${#targets[@]} -gt 0 ]] || targets=(python node bash)

    check_docker

    # Two builders at once would debootstrap into the same cache twice.
    if mkdir -p "$CACHE_DIR" 2>/dev/null && command -v flock >/dev/null 2>&1; then
        exec 9>"$CACHE_DIR/build.lock"
        if ! flock -n 9; then
            say "another image build holds $CACHE_DIR/build.lock; waiting..."
            flock 9
        fi
    fi

    local runtime started=$SECONDS
    for runtime in "${targets[@]}"; do
        build_runtime "$runtime"
    done
    say "done in $((SECONDS - started))s"
}

main "$@"
