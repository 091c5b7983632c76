#!/bin/bash
# Start a single-node Slurm (munge, slurmctld, slurmd) for the test suite; Debian 12, root.
# Installs the Debian packages when they are missing. Prints the daemons' PIDs, one per
# line, for down.sh. Liveness is checked by use (munge -n, scontrol ping, sinfo), never by
# process lists: dead daemons can linger as zombies here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
install -D -m 644 "$here/slurm.conf" /etc/slurm/slurm.conf
mkdir -p /run/munge /var/log/munge /var/lib/munge /var/spool/slurmctld /var/spool/slurmd \
    /var/log/slurm
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
until_ok() {  # until_ok TRIES COMMAND...: retry a check every 0.1 s
    local tries=$1; shift
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    "$@"
}
munge -n >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
until_ok 50 munge -n
scontrol ping 2>/dev/null | grep -q UP || slurmctld
until_ok 100 bash -c 'scontrol ping | grep -q UP'
# slurmd by its pid file: after a crash the controller's saved state can still show the node
# as up while no slurmd runs (a zombie counts as dead)
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
if ! { [ -s /run/slurmd.pid ] && alive "$(cat /run/slurmd.pid)"; }; then
    slurmd -N localhost
fi
until_ok 150 bash -c 'sinfo -h -o %T | grep -qE "idle|mix|alloc"'
cat /run/munge/munged.pid /run/slurmctld.pid /run/slurmd.pid
