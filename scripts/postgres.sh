#!/usr/bin/env bash
# Start (idempotently) a throwaway Postgres server for cordon's test suite and
# print its URL on stdout; everything else goes to stderr.
#
#   export CORDON_TEST_POSTGRES_URL="$(scripts/postgres.sh)"
#   scripts/postgres.sh stop      # stop the server (data is kept)
#
# The cluster listens only on 127.0.0.1 (port $CORDON_PG_PORT, default 54329) with
# trust authentication for loopback, which is acceptable only because nothing but
# local test processes can reach it. As root the server runs as the `postgres`
# user; as another user it runs as that user. Needs Debian's `postgresql` package.
set -euo pipefail

PORT="${CORDON_PG_PORT:-54329}"
DB="${CORDON_PG_DB:-cordon_test}"
if [ "$(id -u)" = 0 ]; then
    BASE="${CORDON_PG_DIR:-/var/lib/cordon-test-pg}"
    RUN_AS=postgres
else
    BASE="${CORDON_PG_DIR:-${XDG_RUNTIME_DIR:-/tmp}/cordon-test-pg-$(id -u)}"
    RUN_AS=""
fi
DATA="$BASE/data"
LOG="$BASE/server.log"

BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
    echo "postgres.sh: no Postgres server binaries under /usr/lib/postgresql (apt-get install -y postgresql)" >&2
    exit 1
fi

as_db_user() {
    if [ -n "$RUN_AS" ]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = "stop" ]; then
    if [ -f "$DATA/PG_VERSION" ]; then
        as_db_user "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    exit 0
fi

mkdir -p "$BASE"
if [ -n "$RUN_AS" ]; then
    chown "$RUN_AS:$RUN_AS" "$BASE"
fi
chmod 700 "$BASE"

if [ ! -f "$DATA/PG_VERSION" ]; then
    echo "postgres.sh: initialising a cluster in $DATA" >&2
    as_db_user "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
    cat >>"$DATA/postgresql.conf" <<CONF

# cordon test cluster (scripts/postgres.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 200
CONF
    # Loopback only, no password: the server is unreachable from elsewhere.
    cat >"$DATA/pg_hba.conf" <<HBA
local all all                trust
host  all all 127.0.0.1/32   trust
HBA
    chmod 600 "$DATA/pg_hba.conf"
    if [ -n "$RUN_AS" ]; then
        chown "$RUN_AS:$RUN_AS" "$DATA/pg_hba.conf"
    fi
fi

if ! as_db_user "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "postgres.sh: starting Postgres on 127.0.0.1:$PORT" >&2
    as_db_user "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2
fi

psql_q() {
    as_db_user "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tA "$@"
}
if [ "$(psql_q -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    psql_q -c "CREATE DATABASE $DB" >&2
fi

echo "postgres://postgres@127.0.0.1:$PORT/$DB"
