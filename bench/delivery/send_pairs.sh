#!/bin/bash
# Send throughput before/after a change, in alternating rounds so the shared machine's
# noise hits both sides: each round runs "before", "after" and the bare-stack ceiling, each
# (1) 32 senders in 32 direct chats over TWO server processes (uvicorn; each pair's sender
# on one process and its peer on the other, so every message crosses the channel layer),
# (2) the 1:1 closed loop at 32 senders on ONE uvicorn process.
# usage: bench/delivery/send_pairs.sh BEFORE_TREE BEFORE_DB AFTER_TREE AFTER_DB [ROUNDS]
#   BEFORE_TREE: a worktree of the older commit (.venv symlinked); each *_DB a bench
#   database set up by setup.sh (clone one with CREATE DATABASE ... TEMPLATE and migrate it
#   in the other tree, so both hold the same fixture). The loadgen is this tree's.
# Env: BENCH_DIR (default /tmp/talkee-bench), BENCH_REDIS_URL, ROUNDS.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
BEFORE=$1 BEFORE_DB=$2 AFTER=$3 AFTER_DB=$4 ROUNDS=${5:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/talkee-bench}
export BENCH_DIR
OUT=$BENCH_DIR/pairs-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
PY=$HERE/.venv/bin/python
LOADGEN=$HERE/bench/delivery/loadgen.py
FIXTURE=$BENCH_DIR/fixture.json
CEIL_SRC=/work/shared/bench/channels-ceiling
CEIL=$BENCH_DIR/ceiling
CEIL_DB=${CEIL_DB:-talkee_bench_send_ceiling}
PSQL="psql -h 127.0.0.1 -p 5432 -U postgres -q -v ON_ERROR_STOP=1"
say() { echo "=== $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a "$OUT/run.log"; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; }

talkee() {  # <tree> <db> <label>
  local tree=$1 db=$2 label=$3 p1 p2
  (cd "$tree" && export BENCH_DB=$db && source bench/delivery/env.sh && "$PY" bench/delivery/populate.py reset --out "$FIXTURE") >>"$OUT/run.log" 2>&1
  p1=$(cd "$tree" && BENCH_DB=$db bench/delivery/srv.sh start uvicorn 18311)
  p2=$(cd "$tree" && BENCH_DB=$db bench/delivery/srv.sh start uvicorn 18312)
  say "$label: two processes ($p1, $p2)"
  (export BENCH_DB=$db && source "$tree/bench/delivery/env.sh" && timeout 300 "$PY" "$LOADGEN" --fixture "$FIXTURE" \
    --url ws://127.0.0.1:18311/v1/ws --pid "$p1" --url2 ws://127.0.0.1:18312/v1/ws --pid2 "$p2" \
    --phases chat --senders 32 --label "$label/2proc" --results "$OUT/results.jsonl") 2>&1 | tee -a "$OUT/run.log"
  "$tree/bench/delivery/srv.sh" stop "$p2"
  say "$label: one process ($p1)"
  (export BENCH_DB=$db && source "$tree/bench/delivery/env.sh" && timeout 300 "$PY" "$LOADGEN" --fixture "$FIXTURE" \
    --url ws://127.0.0.1:18311/v1/ws --pid "$p1" --phases chat --senders 32 --label "$label/1proc" \
    --results "$OUT/results.jsonl") 2>&1 | tee -a "$OUT/run.log"
  "$tree/bench/delivery/srv.sh" stop "$p1"
}

ceiling() {
  rm -rf "$CEIL" && mkdir -p "$CEIL" && cp -r "$CEIL_SRC/app" "$CEIL_SRC/loadgen.py" "$CEIL/"
  cat >"$CEIL/app/ceil_settings.py" <<EOF
from chatbench.settings import *  # noqa: F403
PG = dict(PG, dbname="$CEIL_DB")  # noqa: F405
DATABASES["default"]["NAME"] = PG["dbname"]  # noqa: F405
EOF
  $PSQL -lqt | cut -d'|' -f1 | grep -qw "$CEIL_DB" || $PSQL -c "CREATE DATABASE $CEIL_DB"
  $PSQL "$CEIL_DB" -c "CREATE TABLE IF NOT EXISTS msg(id bigserial primary key, chat_id int not null, seq bigint not null, payload bytea not null); CREATE INDEX IF NOT EXISTS msg_chat_seq ON msg(chat_id, seq);"
  local pids=() port
  for port in 18321 18322; do
    (cd "$CEIL/app" && DJANGO_SETTINGS_MODULE=ceil_settings LAYER=pubsub SKIPCLOSE=1 PGPORT=5432 REDIS_PORT=6379 \
      exec "$HERE/.venv/bin/uvicorn" chatbench.asgi:application --host 127.0.0.1 --port $port --loop uvloop \
      --http httptools --ws websockets-sansio --log-level warning --no-access-log --backlog 4096 \
      >"$OUT/ceil-$port.log" 2>&1) &
    pids+=($!)
    wait_port $port
  done
  say "ceiling: two processes (${pids[0]}, ${pids[1]})"
  timeout 120 "$PY" "$CEIL/loadgen.py" chat --urls ws://127.0.0.1:18321/ws,ws://127.0.0.1:18322/ws \
    --pids "${pids[0]},${pids[1]}" --senders 32 --dur 8 --label ceiling/2proc 2>&1 | tee -a "$OUT/run.log"
  say "ceiling: one process (${pids[0]})"
  timeout 120 "$PY" "$CEIL/loadgen.py" chat --urls ws://127.0.0.1:18321/ws --pids "${pids[0]}" --senders 32 \
    --dur 8 --label ceiling/1proc 2>&1 | tee -a "$OUT/run.log"
  kill "${pids[@]}" 2>/dev/null
  wait "${pids[@]}" 2>/dev/null
}

say "before=$(git -C "$BEFORE" rev-parse --short HEAD) after=$(git -C "$AFTER" rev-parse --short HEAD) rounds=$ROUNDS; $(nproc) cores; output in $OUT"
for round in $(seq "$ROUNDS"); do
  say "round $round"
  talkee "$BEFORE" "$BEFORE_DB" before
  talkee "$AFTER" "$AFTER_DB" after
  ceiling
done
say "done"
grep -E "^CHAT|chat " "$OUT/run.log"
