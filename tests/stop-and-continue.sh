#!/usr/bin/env bash
# Runs a command (a test run, say) while stopping and resuming every process under it, again
# and again: SIGSTOP, 20 ms, SIGCONT, every 0.2 s. A machine that freezes and thaws its
# processes does the same, and on Linux a blocking call with a timeout then fails with EINTR
# (signal(7)); tests and servers must try again, not fail.
#
#   bash tests/stop-and-continue.sh cargo test -p sockwright-servers --test relay
#
# Only the command's own descendants are touched. Exits with the command's status.
set -u

"$@" &
command_pid=$!

descendants() {
    local children
    children=$(pgrep -P "$1" || true)
    for child in $children; do
        echo "$child"
        descendants "$child"
    done
}

(
    while kill -0 "$command_pid" 2>/dev/null; do
        for pid in $(descendants "$command_pid"); do
            kill -STOP "$pid" 2>/dev/null || continue
            sleep 0.02
            kill -CONT "$pid" 2>/dev/null
        done
        sleep 0.2
    done
) &
stopper_pid=$!

wait "$command_pid"
status=$?
kill "$stopper_pid" 2>/dev/null
wait "$stopper_pid" 2>/dev/null
exit "$status"
