#!/usr/bin/env bash
# stack.sh start|stop|env: a throwaway PostgreSQL cluster and redis-server on loopback, under a local state folder.
#   BOOKA_STATE_DIR (default: <repo>/.state), BOOKA_PG_PORT (default 55440), BOOKA_REDIS_PORT (default 56390).
# `start` is idempotent and prints nothing but progress; `env` prints the DATABASE_URL / REDIS_URL exports.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${BOOKA_STATE_DIR:-$repo/.state}
pg_port=${BOOKA_PG_PORT:-55440}
redis_port=${BOOKA_REDIS_PORT:-56390}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

# PostgreSQL refuses to run as root and must reach its data directory as `postgres`. When the repo sits where that
# user cannot go (e.g. under /root), the cluster lives in /tmp under a name derived from the repo path instead.
pg_home() {
    local dir="$state/pg"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$dir"
        if ! su postgres -s /bin/sh -c "test -w '$dir'" 2>/dev/null; then
            dir="/tmp/booka-pg-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)"
            mkdir -p "$dir" && chown postgres "$dir"
        fi
    fi
    echo "$dir"
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

start_postgres() {
    local home
    home=$(pg_home)
    if [ ! -f "$home/data/PG_VERSION" ]; then
        echo "stack: initialising PostgreSQL in $home/data"
        as_postgres "'$pg_bin/initdb' -D '$home/data' -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8" >/dev/null
    fi
    if ! as_postgres "'$pg_bin/pg_ctl' -D '$home/data' status" >/dev/null 2>&1; then
        echo "stack: starting PostgreSQL on 127.0.0.1:$pg_port"
        # glibc tunables for the backends: blocks under 32 MiB come from the heap (not a fresh mmap each time), and up to
        # 16 MiB may stay free at the heap's top instead of being handed back after each statement. With glibc's
        # defaults (thresholds of 128 KiB that move as blocks come and go), a session that has run a dozen different
        # statements plans the list's price-and-category query in 1.7-1.9 ms instead of 0.77, growing the heap with brk
        # and trimming it again on every plan; trim_threshold alone cures that but fixes the mmap threshold at 128 KiB,
        # which made fresh sessions 80% slower (docs/PERFORMANCE.md). The server keeps its connections for hours while
        # pgbench opens fresh ones: without this the bench would compare two different databases. Recommended for
        # production in docs/OPERATIONS.md.
        as_postgres "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=16777216 \
            '$pg_bin/pg_ctl' -D '$home/data' -w -t 60 -l '$home/log' \
            -o \"-p $pg_port -k '$home' -c listen_addresses=127.0.0.1 -c max_connections=300 \
                -c shared_buffers=512MB -c shared_preload_libraries=pg_stat_statements -c fsync=off \
                -c synchronous_commit=off\" start" >/dev/null
    elif ! as_postgres "grep -qz '^GLIBC_TUNABLES=' /proc/$(head -1 "$home/data/postmaster.pid")/environ" 2>/dev/null; then
        # (read as the postmaster's user: root may lack CAP_SYS_PTRACE, which another user's environ needs, in a container)
        # started by an older stack.sh: it works, but bench/list's cold-path ratio measures the allocator (see above)
        echo "stack: PostgreSQL on 127.0.0.1:$pg_port runs without the glibc tunables; '$0 stop' and start again" >&2
    fi
    for _ in $(seq 1 100); do
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && return 0
        sleep 0.1
    done
    echo "stack: PostgreSQL did not become ready; see $home/log" >&2
    return 1
}

start_redis() {
    mkdir -p "$state/redis"
    if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        echo "stack: starting Redis on 127.0.0.1:$redis_port"
        redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --dir "$state/redis" \
            --pidfile "$state/redis/redis.pid" --logfile "$state/redis/redis.log" --save '' --appendonly no
        for _ in $(seq 1 100); do
            redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0
            sleep 0.1
        done
        echo "stack: Redis did not start; see $state/redis/redis.log" >&2
        return 1
    fi
}

stop_all() {
    local home
    home=$(pg_home)
    if [ -f "$home/data/PG_VERSION" ]; then
        as_postgres "'$pg_bin/pg_ctl' -D '$home/data' -m fast stop" >/dev/null 2>&1 || true
    fi
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

print_env() {
    echo "export DATABASE_URL=postgresql://postgres@127.0.0.1:$pg_port/booka"
    echo "export BOOKA_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres"
    echo "export REDIS_URL=redis://127.0.0.1:$redis_port/0"
    echo "export BOOKA_PG_BIN=$pg_bin"
    echo "export BOOKA_PG_DATA=$(pg_home)/data"
    echo "export BOOKA_PG_PORT=$pg_port"
    echo "export BOOKA_REDIS_PORT=$redis_port"
}

case "${1:-}" in
start)
    start_postgres
    start_redis
    ;;
stop) stop_all ;;
env) print_env ;;
*)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
