#!/bin/bash
# Three alternating runs of bench_sync.py on two git refs: compare_sources.sh [BEFORE] [AFTER]
cd "$(dirname "$0")/.."
for i in 1 2 3; do
  for src in "${1:-dde48a6}" "${2:-HEAD}"; do
    echo "=== run $i source $src $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    python3 benchmarks/bench_sync.py --messages 2000 --resync-messages 4000 --skip-fetchmail --skip-bare --no-phases --source $src 2>&1 | grep -E "stored|first sync:|resync [0-9]|queries per message"
  done
done
echo ALLDONE
