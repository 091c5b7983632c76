#!/bin/bash
# Stop the daemons up.sh started, by the PIDs it printed (arguments), and nothing else.
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
scontrol shutdown >/dev/null 2>&1 || true
for pid in "$@"; do alive "$pid" && kill "$pid" 2>/dev/null; done
for pid in "$@"; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid"
done
true
