# The scenarios and their xmppbench arguments, exactly as ../shared/bench/run-matrix.sh
# measured the peers. Sourced by run.sh and compare.sh.
args_for() {
  case "$1" in
    login-seq)   echo "login --users 300 --concurrency 1";;
    login-conc)  echo "login --users 2000 --concurrency 50";;
    login-plain) echo "login --users 1000 --first 2001 --concurrency 50 --mech PLAIN";;
    idle-1k)     echo "idle --users 10000 --sessions 1000 --concurrency 50 --settle 3 --hold 3";;
    idle-5k)     echo "idle --users 10000 --sessions 5000 --concurrency 50 --settle 3 --hold 3";;
    idle-10k)    echo "idle --users 10000 --sessions 10000 --concurrency 50 --settle 3 --hold 3";;
    chat)        echo "chat --pairs 100 --window 10 --duration 10";;
    muc-50)      echo "muc --occupants 50 --senders 5 --window 5 --duration 10 --room r50 --muc conference.bench.local";;
    muc-200)     echo "muc --occupants 200 --senders 5 --window 5 --duration 10 --room r200 --muc conference.bench.local";;
    presence)    echo "presence --users 500 --first 7001 --contacts 20 --duration 10";;
    ws-login)    echo "login --users 1000 --concurrency 50 --transport ws";;
    ws-chat)     echo "chat --pairs 100 --window 10 --duration 10 --transport ws";;
  esac
}
