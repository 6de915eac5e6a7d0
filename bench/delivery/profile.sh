#!/bin/bash
# py-spy profile of the Talkee server while loadgen.py drives one phase (not part of run_all).
# usage: bench/delivery/profile.sh <daphne|uvicorn> <phase> [extra loadgen args...]
#   e.g. profile.sh uvicorn chat --senders 32 --dur 12
#        profile.sh uvicorn fanout1000
# py-spy is not a project requirement: PYSPY=/tmp/bench-venv/bin/py-spy by default
#   (python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install py-spy).
# Output: $BENCH_DIR/profile-<server>-<phase>.txt (raw collapsed stacks) + a summary on stdout.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/delivery/env.sh"
ulimit -n 20000
S=$1; PHASE=$2; shift 2
PYSPY=${PYSPY:-/tmp/bench-venv/bin/py-spy}
PORT=${PORT:-18290}
OUTF="$BENCH_DIR/profile-$S-$PHASE${TAG:-}.txt"
"$PY" bench/delivery/populate.py reset >/dev/null
P=$("$ROOT/bench/delivery/srv.sh" start "$S" "$PORT")
# PYSPY_ARGS=--gil samples only the thread holding the GIL (a CPU view); without it every
# non-idle thread is sampled (a wall-clock view that includes waits on PostgreSQL).
"$PYSPY" record -p "$P" --threads --format raw --rate 100 ${PYSPY_ARGS:-} -o "$OUTF" >/dev/null 2>&1 &
SPY=$!
sleep 1
timeout 400 "$PY" bench/delivery/loadgen.py --url "ws://127.0.0.1:$PORT/v1/ws" --pid "$P" --label "$S+py-spy" \
  --phases "$PHASE" "$@"
kill -INT "$SPY"; wait "$SPY" 2>/dev/null
"$ROOT/bench/delivery/srv.sh" stop "$P"
echo "--- py-spy: $OUTF"
"$PY" bench/delivery/pyspy_summary.py "$OUTF" ${SUMMARY_ARGS:-}
