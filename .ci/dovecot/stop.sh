#!/usr/bin/env bash
# Stop the test Dovecot started by start.sh (by its own pid file; never by name) and wait for it to go.
DOVECOT_DIR=${DOVECOT_DIR:-/tmp/inbox311-dovecot}
pidf="$DOVECOT_DIR/run/master.pid"
[ -f "$pidf" ] || exit 0
pid=$(cat "$pidf")
# a stale pid file may name a pid since reused by another program: only a dovecot process is stopped
tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q dovecot || exit 0
kill "$pid" 2>/dev/null || exit 0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
echo "dovecot $pid still running after 10 s" >&2; exit 1
