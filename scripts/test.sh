#!/usr/bin/env bash
# Run every test tier of crm_inbox and print which tiers ran.
#   tier 1 "engine": plain pytest, no Odoo (IMAP/SMTP/OAuth/DNS against real local servers)
#   tier 2 "odoo":   Odoo's own runner on a fresh PostgreSQL database (TransactionCase,
#                    HttpCase and Chromium tours), only where `odoo` is importable.
# Exit status is non-zero when any tier that ran failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PY="${PYTHON:-python3}"
summary=()
status=0

echo "== tier 1: engine tests (pytest, no Odoo) =="
if "$PY" -m pytest engine/tests -q -p no:cacheprovider "$@"; then
  summary+=("engine: passed")
else
  summary+=("engine: FAILED"); status=1
fi

if "$PY" -c "import odoo" 2>/dev/null; then
  echo "== tier 2: Odoo tests (odoo $("$PY" -c 'import odoo.release as r; print(r.version)')) =="
  work="$(mktemp -d)"
  mkdir -p "$work/addons"
  ln -s "$repo" "$work/addons/crm_inbox"   # the checkout's folder name is not crm_inbox
  db="crm_inbox_test_$$"
  log="$work/odoo-test.log"
  dropdb --if-exists "$db" 2>/dev/null
  "$PY" -m odoo -d "$db" --addons-path="$work/addons" -i crm_inbox --without-demo=all \
      --test-enable --test-tags /crm_inbox --stop-after-init --http-port "${ODOO_TEST_PORT:-8169}" \
      --data-dir "$work/data" --log-level=test --db_host="${PGHOST:-}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  ran=$(grep -oE "[0-9]+ post-tests in|Ran [0-9]+ tests?" "$log" | tail -1)
  counts=$(grep -E "odoo.tests.result: [0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests" "$log" | tail -1 | sed 's/.*odoo.tests.result: //')
  errors=$(grep -cE " (ERROR|CRITICAL) $db " "$log")
  if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ]; then
    summary+=("odoo: FAILED (exit $rc, $errors error lines; ${counts:-no result line})"); status=1
  else
    summary+=("odoo: passed (${counts:-see log})")
  fi
  dropdb --if-exists "$db" 2>/dev/null
  rm -rf "$work"
else
  summary+=("odoo: skipped (odoo is not importable here; install Odoo 18.0 to run it)")
fi

# tier "kill": real Odoo sync processes SIGKILLed at random points (scripts/kill_test.py)
if "$PY" -c "import odoo" 2>/dev/null; then
  echo "== tier kill: SIGKILLed Odoo sync processes, then exactness =="
  klog="$(mktemp)"
  "$PY" scripts/kill_test.py 2>&1 | tee "$klog"
  krc=${PIPESTATUS[0]}
  kline=$(grep -E "^kill test (passed|FAILED)" "$klog" | tail -1)
  if [ "$krc" -eq 0 ]; then
    summary+=("kill: passed (${kline#kill test passed: })")
  else
    summary+=("kill: FAILED (exit $krc; ${kline:-no result line})"); status=1
  fi
  rm -f "$klog"
else
  summary+=("kill: skipped (odoo is not importable here)")
fi

echo
echo "== test tiers =="
printf '  %s\n' "${summary[@]}"
exit $status
