#!/bin/bash
# usage: srv.sh start <daphne|uvicorn> <port>  -> prints the server PID (production settings, bench DB)
#        srv.sh stop <pid>
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/bench/delivery/env.sh"
if [ "$1" = start ]; then
  kind=$2; port=$3
  ulimit -n 20000
  log="$BENCH_DIR/server-$kind-$port.log"
  if [ "$kind" = daphne ]; then
    "$PY" -m talkee.server --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
  else
    # uvicorn 0.54: uvloop + httptools, the sans-I/O websockets implementation, the same
    # 24 MiB frame cap as talkee/server.py, and no access log (sealed sender).
    "$ROOT/.venv/bin/uvicorn" talkee.asgi:application --host 127.0.0.1 --port "$port" \
      --loop uvloop --http httptools --ws websockets-sansio --ws-max-size 25165824 \
      --no-access-log --log-level warning --backlog 4096 >"$log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
  echo "$pid"
elif [ "$1" = stop ]; then
  kill "$2" 2>/dev/null
  for _ in $(seq 20); do kill -0 "$2" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$2" 2>/dev/null; true
fi
