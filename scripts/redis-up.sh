#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:6379 for the tests (no persistence: test data only).
# Exits 0 when one already answers or once the one started here does; non-zero otherwise.
set -euo pipefail

HOST=127.0.0.1
PORT="${REDIS_UP_PORT:-6379}"   # override only to try the script without touching a running Redis

ping_ok() {
  [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null || true)" = "PONG" ]
}

if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-up: redis-server and redis-cli are required (e.g. apt-get install redis-server)" >&2
  exit 1
fi

if ping_ok; then
  echo "redis-up: Redis already answers on $HOST:$PORT"
  exit 0
fi

# The usual places first; a temp folder when they are not writable (non-root CI users).
dir=/var/lib/redis
logdir=/var/log/redis
mkdir -p "$dir" "$logdir" 2>/dev/null || true
if [ ! -w "$dir" ] || [ ! -w "$logdir" ]; then
  dir="${TMPDIR:-/tmp}/fcn-redis"
  logdir="$dir"
  mkdir -p "$dir"
fi
logfile="$logdir/ci.log"

echo "redis-up: starting redis-server on $HOST:$PORT (dir $dir, log $logfile)"
# ::1 may not exist (IPv6 disabled); the leading '-' tells Redis to skip an address it cannot bind.
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$PORT" --save "" --appendonly no \
  --dir "$dir" --logfile "$logfile"

for _ in $(seq 1 50); do
  if ping_ok; then
    echo "redis-up: Redis answers on $HOST:$PORT"
    exit 0
  fi
  sleep 0.2
done

echo "redis-up: Redis did not answer PONG on $HOST:$PORT within 10 s; last lines of $logfile:" >&2
tail -n 20 "$logfile" >&2 2>/dev/null || true
exit 1
