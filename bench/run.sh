#!/bin/bash
# Measure xmppsite exactly as ../shared/bench measured Prosody and ejabberd:
# server pinned to CPU 0, generator (xmppbench.py) on CPU 1, a fresh server process per run.
#   bench/run.sh setup [N]          fresh data dir, register user1..userN (XEP-0077), rosters, warm SCRAM cache
#   bench/run.sh run REPS SCEN...   scenarios as in run-matrix.sh (login-seq login-conc login-plain idle-1k ... chat presence)
#   bench/run.sh start|stop         just the server
# env: BENCH=../shared/bench (where xmppbench.py is; ../../shared/bench from a worktree), OUT=bench/results/raw.jsonl, PORT=35222
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(dirname "$HERE")"
BENCH="${BENCH:-$TOP/../shared/bench}"; [ -d "$BENCH" ] || BENCH="$TOP/../../shared/bench"  # from a worktree
OUT="${OUT:-$HERE/results/raw.jsonl}"; mkdir -p "$(dirname "$OUT")"
PORT="${PORT:-16222}"; HTTP="${HTTP_PORT:-16280}"  # below the ephemeral range (32768+)
PY="$TOP/.venv/bin/python"
export XMPP_DATA_DIR=/tmp/xmppsite-bench XMPP_DOMAINS=bench.local XMPP_REQUIRE_TLS=false \
  XMPP_ALLOW_REGISTRATION=true XMPP_C2S_PORT=$PORT XMPP_TLS_PORT=$((PORT+1)) XMPP_HTTP_PORT=$HTTP \
  XMPP_HTTPS_PORT=$((HTTP+1)) \
  XMPP_LOG_LEVEL=WARNING XMPP_RATE_LIMIT_BYTES=0 XMPP_MAX_UNAUTH_PER_IP=0 XMPP_MUC_MESSAGE_RATE=0
B="$PY $BENCH/xmppbench.py"
PIDFILE=$XMPP_DATA_DIR/xmppd.pid

stop() { [ -f $PIDFILE ] && kill "$(cat $PIDFILE)" 2>/dev/null; for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$PORT " || break; sleep 0.2; done; rm -f $PIDFILE; }
start() {
  stop; mkdir -p $XMPP_DATA_DIR
  (cd "$TOP" && $PY manage.py migrate --noinput >/dev/null) || return 1
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  (cd "$TOP" && exec taskset -c 0 $PY manage.py xmppd >$XMPP_DATA_DIR/xmppd.log 2>&1) &
  echo $! >$PIDFILE
  for _ in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$PORT " && return 0; sleep 0.2; done
  echo "server did not start" >&2; cat $XMPP_DATA_DIR/xmppd.log >&2; return 1
}
. "$HERE/scenarios.sh"
case "${1:-}" in
setup)
  N="${2:-10000}"; rm -rf $XMPP_DATA_DIR; mkdir -p $XMPP_DATA_DIR
  (cd "$TOP" && $PY manage.py migrate --noinput >/dev/null)
  start
  $B register --port $PORT --domain bench.local --users "$N" --concurrency 20 --max-time 1800 | tail -c 400; echo
  [ "$N" -ge 7500 ] && $B roster-setup --port $PORT --domain bench.local --users 500 --first 7001 --contacts 20 --timeout 120 --max-time 900 | tail -c 400; echo
  $B login --port $PORT --domain bench.local --users "$N" --concurrency 50 --max-time 1800 >/dev/null
  stop;;
start) start;;
stop) stop;;
run)
  REPS="${2:-3}"; shift 2; SCEN="${*:-login-seq login-conc login-plain idle-1k chat presence}"
  for rep in $(seq 1 "$REPS"); do for sc in $SCEN; do
    start; sleep 1
    echo "== rep $rep $sc (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    A="$(args_for $sc)"; [[ "$A" == *"--transport ws"* ]] && A="$A --url ws://127.0.0.1:$HTTP/xmpp-websocket"
    $B $A --port $PORT --domain bench.local --server-pid "$(cat $PIDFILE)" --cpu 1 \
      --label "xmppsite/$sc/rep$rep" --max-time 300 --out "$OUT" | tail -c 600; echo
    stop
  done; done;;
*) sed -n 2,8p "$0"; exit 2;;
esac
