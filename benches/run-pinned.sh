#!/usr/bin/env bash
# Runs a command (the benchmark report) with this machine's database servers and the command
# placed on fixed CPUs, and puts the servers back as they were when it ends.
#
#   bash benches/run-pinned.sh same  ./target/release/report --backend all --quick ...
#   bash benches/run-pinned.sh split ./target/release/report --backend all --quick ...
#
# `same`: the command and every local PostgreSQL and MariaDB/MySQL process on CPU 0.
# `split`: the command on CPU 0, the servers on CPU 1 (as a server on another machine would
# be: it works while the client decodes).
#
# Why: on this project's 2-vCPU virtual machines, a round trip costs 21 µs when the client and
# the server thread that answers it run on the same CPU, and 56 µs when they run on different
# ones (waking an idle vCPU goes through the hypervisor). Left to the scheduler, a
# connection's server thread tends to stay where it first landed, so one implementation's
# connection can pay the slow round trip for a whole report while another's pays the fast one:
# `update_by_pk` on MariaDB measured 0.41 to 3.00 of the driver from one run to the next, with
# each implementation's own runs steady at 2.1 ms or at 5.5 ms. Pinned either way, the same
# workload measures 0.97 to 1.03 (see the README's "Pinned runs").
#
# PostgreSQL forks a backend per connection from the postmaster, which passes its CPU mask on:
# pinning the postmaster before the command connects places every backend the command opens.
# Needs `taskset` (util-linux) and the right to change the servers' affinity (root, or the
# servers' user).
set -euo pipefail

mode="${1:-}"
case "$mode" in
  same) client_cpu=0 server_cpu=0 ;;
  split) client_cpu=0 server_cpu=1 ;;
  *)
    echo "usage: $0 same|split COMMAND [ARGS...]" >&2
    exit 2
    ;;
esac
shift
if [ "$#" -eq 0 ]; then
  echo "usage: $0 same|split COMMAND [ARGS...]" >&2
  exit 2
fi
if [ "$(nproc)" -le "$server_cpu" ]; then
  echo "$0: this machine has $(nproc) CPU(s); '$mode' needs CPU $server_cpu" >&2
  exit 2
fi

declare -A saved=()
restore() {
  for pid in "${!saved[@]}"; do
    taskset -a -p "${saved[$pid]}" "$pid" >/dev/null 2>&1 || true
  done
}
trap restore EXIT

for pid in $(pgrep -x 'postgres|postmaster|mariadbd|mysqld' || true); do
  mask=$(taskset -p "$pid" 2>/dev/null | awk '{print $NF}') || continue
  [ -n "$mask" ] || continue
  if taskset -a -p -c "$server_cpu" "$pid" >/dev/null 2>&1; then
    saved[$pid]=$mask
  else
    echo "$0: cannot pin process $pid ($(cat /proc/"$pid"/comm 2>/dev/null)); it stays where it is" >&2
  fi
done
echo "$0: ${#saved[@]} server process(es) on CPU $server_cpu, the command on CPU $client_cpu" >&2

status=0
taskset -c "$client_cpu" "$@" || status=$?
exit "$status"
