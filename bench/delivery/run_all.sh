#!/bin/bash
# The whole delivery bench in one run (~12-15 min on 2 cores), 127.0.0.1 only:
#   pgbench -N on a scratch database, then for daphne and for uvicorn:
#   the bare-stack ceiling (../shared/bench/channels-ceiling, a copy under $BENCH_DIR,
#   pub/sub layer + SKIPCLOSE = the same layer and fast path Talkee ships) and Talkee
#   itself (production settings) through bench/delivery/loadgen.py.
# Needs: bench/delivery/setup.sh run once (database talkee_bench + fixture.json).
# Output: $BENCH_DIR/run-<time>/ (results.jsonl, ceiling.log, pgbench.log, run.log).
# Env: SERVERS="daphne uvicorn"  SEC="pgbench ceiling talkee"  PHASES=... (loadgen phases)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/delivery/env.sh"
ulimit -n 20000
SERVERS=${SERVERS:-"daphne uvicorn"}
SEC=${SEC:-"pgbench ceiling talkee"}
PHASES=${PHASES:-idle,chat,latency,fanout50,fanout1000}
OUT=${OUT:-$BENCH_DIR/run-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
CEIL_SRC=/work/shared/bench/channels-ceiling
CEIL=$BENCH_DIR/ceiling
CEIL_DB=talkee_bench_ceiling
PGB_DB=talkee_bench_pgbench
PSQL="psql -h 127.0.0.1 -p 5432 -U postgres -q -v ON_ERROR_STOP=1"
T0=$(date +%s)
say() { echo "=== $(date -u +%H:%M:%S) [+$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/run.log"; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT"
say "code: $(git rev-parse --short HEAD) ($(git status --short -- apps talkee | wc -l) uncommitted server files in the working tree)"
# Other work lands in this tree while we run: bring the bench database to the code's schema.
"$PY" manage.py migrate --noinput -v 0 2>&1 | tee -a "$OUT/run.log"

if [[ " $SEC " == *" pgbench "* ]]; then
  say "pgbench -N (scratch database $PGB_DB, scale 10, 8 clients, 10 s)"
  $PSQL -c "DROP DATABASE IF EXISTS $PGB_DB WITH (FORCE)" -c "CREATE DATABASE $PGB_DB"
  pgbench -h 127.0.0.1 -p 5432 -U postgres -i -s 10 -q "$PGB_DB" >/dev/null 2>&1
  pgbench -h 127.0.0.1 -p 5432 -U postgres -c 8 -j 2 -T 10 -N "$PGB_DB" 2>&1 \
    | grep -E "^tps|latency average" | tee "$OUT/pgbench.log"
  $PSQL -c "DROP DATABASE IF EXISTS $PGB_DB WITH (FORCE)"
fi

if [[ " $SEC " == *" ceiling "* ]]; then
  # The bare app unchanged, pointed at the same PostgreSQL and Redis as Talkee; the only
  # addition is a settings module that renames its database.
  rm -rf "$CEIL" && mkdir -p "$CEIL" && cp -r "$CEIL_SRC/app" "$CEIL_SRC/loadgen.py" "$CEIL/"
  cat >"$CEIL/app/ceil_settings.py" <<EOF
from chatbench.settings import *  # noqa: F403
PG = dict(PG, dbname="$CEIL_DB")  # noqa: F405
DATABASES["default"]["NAME"] = PG["dbname"]  # noqa: F405
EOF
  if ! $PSQL -lqt | cut -d'|' -f1 | grep -qw "$CEIL_DB"; then
    $PSQL -c "CREATE DATABASE $CEIL_DB"
  fi
  $PSQL "$CEIL_DB" -c "CREATE TABLE IF NOT EXISTS msg(id bigserial primary key, chat_id int not null, seq bigint not null, payload bytea not null); CREATE INDEX IF NOT EXISTS msg_chat_seq ON msg(chat_id, seq);"
fi

ceil_start() {  # <daphne|uvicorn> <port> -> pid
  local kind=$1 port=$2
  (
    cd "$CEIL/app" || exit 1
    export DJANGO_SETTINGS_MODULE=ceil_settings LAYER=pubsub SKIPCLOSE=1 PGPORT=5432 REDIS_PORT=6379
    if [ "$kind" = daphne ]; then
      "$ROOT/.venv/bin/daphne" -b 127.0.0.1 -p "$port" chatbench.asgi:application >"$OUT/ceil-$kind.log" 2>&1 &
    else
      "$ROOT/.venv/bin/uvicorn" chatbench.asgi:application --host 127.0.0.1 --port "$port" --loop uvloop \
        --http httptools --ws websockets-sansio --log-level warning --no-access-log --backlog 4096 \
        >"$OUT/ceil-$kind.log" 2>&1 &
    fi
    echo $!
  )
}
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; }

PORT=18200
for S in $SERVERS; do
  if [[ " $SEC " == *" ceiling "* ]]; then
    PORT=$((PORT + 1))
    say "ceiling: bare stack on $S (pub/sub layer, SKIPCLOSE=1, psycopg pool) port $PORT"
    P=$(ceil_start "$S" $PORT); wait_port $PORT
    for N in 1 8 32; do
      timeout 120 "$PY" "$CEIL/loadgen.py" chat --urls "ws://127.0.0.1:$PORT/ws" --pids "$P" --senders $N --dur 8 \
        --label "ceiling/$S" 2>&1 | tee -a "$OUT/ceiling.log"
    done
    for G in 50 1000; do
      timeout 180 "$PY" "$CEIL/loadgen.py" fanout --urls "ws://127.0.0.1:$PORT/ws" --pids "$P" --group $G --msgs 20 \
        --label "ceiling/$S" 2>&1 | tee -a "$OUT/ceiling.log"
    done
    "$ROOT/bench/delivery/srv.sh" stop "$P"
  fi
  if [[ " $SEC " == *" talkee "* ]]; then
    PORT=$((PORT + 1))
    say "talkee on $S port $PORT (talkee.settings.prod, DEBUG=False, RedisPubSubChannelLayer, PostgreSQL pool)"
    "$PY" bench/delivery/populate.py reset >>"$OUT/run.log" 2>&1
    P=$("$ROOT/bench/delivery/srv.sh" start "$S" $PORT)
    timeout 900 "$PY" bench/delivery/loadgen.py --url "ws://127.0.0.1:$PORT/v1/ws" --pid "$P" --label "$S" \
      --phases "$PHASES" --results "$OUT/results.jsonl" 2>&1 | tee -a "$OUT/talkee.log"
    "$ROOT/bench/delivery/srv.sh" stop "$P"
  fi
done
say "done in $(( $(date +%s) - T0 ))s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" bench/delivery/report.py "$OUT" | tee "$OUT/report.md"
