#!/bin/bash
# Fresh bench database + fixture: users, devices, sessions, chats, tokens in a JSON file.
# usage: bench/delivery/setup.sh [fixture.json]        (from anywhere; ~1 minute)
# Drops and recreates database $BENCH_DB (default talkee_bench) on 127.0.0.1:5432.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/delivery/env.sh"
OUT=${1:-$BENCH_DIR/fixture.json}
mkdir -p "$BENCH_DIR"
psql -h 127.0.0.1 -p 5432 -U postgres -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
"$PY" manage.py migrate --noinput -v 0
"$PY" bench/delivery/populate.py populate --out "$OUT" \
  --pairs "${PAIRS:-50}" --group-small 50 --group-large 1000 --idle "${IDLE:-10000}"
