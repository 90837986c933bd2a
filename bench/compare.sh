#!/bin/bash
# Side by side in one run: for each scenario, Prosody, ejabberd and xmppsite back to back,
# each from a fresh process, each pinned to CPU 0 with the generator on CPU 1 (as peers.md).
#   bench/compare.sh [REPS] [SCENARIO...]      (needs ../shared/bench/run-peers.sh start done once,
#                                               and bench/run.sh setup 10000)
# Appends to bench/results/compare.jsonl (labels server/scenario/repN) and prints the medians.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"; TOP="$(dirname "$HERE")"
BENCH="${BENCH:-$TOP/../shared/bench}"; [ -d "$BENCH" ] || BENCH="$TOP/../../shared/bench"  # from a worktree
OUT="${OUT:-$HERE/results/compare.jsonl}"; mkdir -p "$(dirname "$OUT")"
REPS="${1:-1}"; shift || true
SCEN="${*:-login-seq login-conc login-plain idle-1k chat presence ws-login ws-chat}"
PY="$TOP/.venv/bin/python"
. "$HERE/scenarios.sh"
for rep in $(seq 1 "$REPS"); do
  for sc in $SCEN; do
    for srv in prosody ejabberd xmppsite; do
      A="$(args_for "$sc")"
      if [ $srv = xmppsite ]; then
        "$BENCH/run-peers.sh" stop >/dev/null
        "$HERE/run.sh" start >/dev/null || exit 1
        PID=$(cat /tmp/xmppsite-bench/xmppd.pid); PORT=16222; URL=ws://127.0.0.1:16280/xmpp-websocket
      else
        "$BENCH/run-peers.sh" restart >/dev/null
        eval "$("$BENCH/run-peers.sh" pids)"
        if [ $srv = prosody ]; then PID=$prosody; PORT=15222; URL=ws://127.0.0.1:15280/xmpp-websocket
        else PID=$ejabberd; PORT=25222; URL=ws://127.0.0.1:25280/ws; fi
      fi
      [[ "$A" == *"--transport ws"* ]] && A="$A --url $URL"
      [ $srv != xmppsite ] && A="${A//conference.bench.local/muc.bench.local}"  # the peers' MUC service
      sleep 1
      echo "== rep $rep $sc $srv (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      $PY "$BENCH/xmppbench.py" $A --port $PORT --domain bench.local --server-pid "$PID" --cpu 1 \
        --label "$srv/$sc/rep$rep" --max-time 300 --out "$OUT" >/dev/null
      [ $srv = xmppsite ] && "$HERE/run.sh" stop >/dev/null
    done
  done
done
"$BENCH/run-peers.sh" stop >/dev/null
$PY "$BENCH/summarize.py" "$OUT"
