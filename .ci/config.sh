# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by the scripts that source it
# Sourced by .ci/run, .ci/services and .ci/venv: where the test servers live (run dir, loopback ports, each
# overridable from the environment so a second copy can run beside the first) and the small helpers they share.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${INBOX311_RUN_DIR:-/tmp/inbox311-test}
IMAP_PORT=${INBOX311_TEST_IMAP_PORT:-1143}
IMAPS_PORT=${INBOX311_TEST_IMAPS_PORT:-1993}
PG_PORT=${INBOX311_TEST_PG_PORT:-55432}      # not 5432: never collide with a system cluster
PRISM_PORT=${INBOX311_TEST_PRISM_PORT:-4010}
SHARED_DIR=${INBOX311_TEST_SHARED:-$ROOT/../shared}
TWILIO_SPEC=${INBOX311_TWILIO_SPEC:-$SHARED_DIR/corpus/twilio/twilio_api_v2010.json}
CHROMIUM=${INBOX311_TEST_CHROMIUM:-/usr/lib/chromium/chromium}
PYTHON=${PYTHON:-python3.11}
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"   # dovecot, useradd
export DEBIAN_FRONTEND=noninteractive SCARF_ANALYTICS=false DO_NOT_TRACK=1

die() { echo "ERROR: $*" >&2; exit 1; }

# seconds since $1 (an $EPOCHREALTIME), one decimal
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

wait_port() { # host port seconds name [pid that must stay alive]
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    if [ -n "${5:-}" ] && ! kill -0 "$5" 2>/dev/null; then echo "$4 exited before opening $1:$2" >&2; return 1; fi
    sleep 0.1
  done
  echo "$4 did not open $1:$2 within $3 s" >&2
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid from a pid file, only when that process is alive and its command line names $2 (a reused pid is left alone)
live_pid() { # pidfile pattern
  local pid
  [ -f "$1" ] || return 1
  pid=$(head -n1 "$1" 2>/dev/null) && [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}
