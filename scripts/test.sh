#!/usr/bin/env bash
# Run every test tier of crm_inbox and print which tiers ran.
#   tier 1 "engine": plain pytest, no Odoo (IMAP/SMTP/OAuth/DNS against real local servers)
#   tier 2 "odoo":   Odoo's own runner on a fresh PostgreSQL database (TransactionCase,
#                    HttpCase and Chromium tours), only where `odoo` is importable.
#   tier "kill":    real Odoo sync processes SIGKILLed at random points.
#   tier "send-kill": real Odoo mail queue runs SIGKILLed while sending.
#   tier "scale":   two sync runners (separate Odoo processes) on the same accounts.
#   tier "lifecycle": an upgrade from the previous release's git ref keeps every row,
#                    cursor and secret; an uninstall leaves nothing that acts.
# Every tier runs under the loopback-only socket guard (testkit/socket_guard.py, loaded
# by testkit/sitecustomize.py in every Python process): a connect()/sendto() outside
# 127.0.0.0/8 and ::1 is refused and logged; a tier with any refusal fails.
# Exit status is non-zero when any tier that ran failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PY="${PYTHON:-python3}"
summary=()
status=0
guard_dir="$(mktemp -d)"
export PYTHONPATH="$repo/testkit${PYTHONPATH:+:$PYTHONPATH}"

# guard_start TIER: refusals of the next tier go to their own file
guard_start() {
  export CRM_INBOX_SOCKET_GUARD_LOG="$guard_dir/$1.log"
  : > "$CRM_INBOX_SOCKET_GUARD_LOG"
  : > "$CRM_INBOX_SOCKET_GUARD_LOG.procs"
}
# guard_check TIER: print the refusal count of TIER; a refusal fails the run
guard_check() {
  local n procs
  n=$(wc -l < "$guard_dir/$1.log" | tr -d ' ')
  procs=$(wc -l < "$guard_dir/$1.log.procs" | tr -d ' ')
  echo "socket guard ($1): $n refused non-loopback connections in $procs guarded Python processes"
  if [ "$procs" -eq 0 ]; then
    summary+=("$1: socket guard was not loaded"); status=1
  fi
  if [ "$n" -ne 0 ]; then
    head -5 "$guard_dir/$1.log"
    summary+=("$1: socket guard refused $n non-loopback connections"); status=1
  fi
  guards+=("$1=$n")
}
guards=()

echo "== tier 1: engine tests (pytest, no Odoo) =="
guard_start engine
# -p no:odoo: pytest-odoo, when installed, would demand a database for these Odoo-free tests
if "$PY" -m pytest engine/tests -q -p no:cacheprovider -p no:odoo "$@"; then
  summary+=("engine: passed")
else
  summary+=("engine: FAILED"); status=1
fi
guard_check engine

if "$PY" -c "import odoo" 2>/dev/null; then
  echo "== tier 2: Odoo tests (odoo $("$PY" -c 'import odoo.release as r; print(r.version)')) =="
  work="$(mktemp -d)"
  mkdir -p "$work/addons"
  ln -s "$repo" "$work/addons/crm_inbox"   # the checkout's folder name is not crm_inbox
  db="crm_inbox_test_$$"
  log="$work/odoo-test.log"
  dropdb --if-exists "$db" 2>/dev/null
  guard_start odoo
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
  guard_check odoo
else
  summary+=("odoo: skipped (odoo is not importable here; install Odoo 18.0 to run it)")
fi

# script_tier NAME SCRIPT TITLE: run SCRIPT (real Odoo processes, real commits) as tier NAME;
# its last line "<what> test passed|FAILED: ..." is the tier's result
script_tier() {
  local name="$1" script="$2" title="$3" log rc line
  if ! "$PY" -c "import odoo" 2>/dev/null; then
    summary+=("$name: skipped (odoo is not importable here)")
    return
  fi
  echo "== tier $name: $title =="
  log="$(mktemp)"
  guard_start "$name"
  "$PY" "$script" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^[a-z -]+ test (passed|FAILED)" "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    summary+=("$name: passed (${line#* test passed: })")
  else
    summary+=("$name: FAILED (exit $rc; ${line:-no result line})"); status=1
  fi
  rm -f "$log"
  guard_check "$name"
}

# real Odoo sync processes SIGKILLed at random points, then exactness
script_tier kill scripts/kill_test.py "SIGKILLed Odoo sync processes, then exactness"
# real Odoo processes draining the mail queue to aiosmtpd, SIGKILLed at random points:
# delivered at least once, duplicates counted, one Sent copy per Message-ID
script_tier send-kill scripts/send_kill_test.py "SIGKILLed mail queue runs, then counts"
# two sync runners in separate Odoo processes on the same due accounts, one SIGKILLed
# mid-sync; real Dovecot behind a delay proxy
script_tier scale scripts/scale_kill_test.py "two concurrent sync runners, one SIGKILLed"
# OCA queue_job (optional): its Odoo tests in a second database (-i crm_inbox,queue_job),
# then a real server with queue_job's job runner syncing every mailbox once, SIGKILLed
if "$PY" -c "import odoo.addons.queue_job" 2>/dev/null; then
  script_tier queue-job scripts/queue_job_test.py "OCA queue_job: tests, then a real job runner"
else
  summary+=("queue-job: skipped (OCA queue_job is not importable here; pip install --no-deps \"odoo-addon-queue-job==18.0.*\")")
fi
# upgrade from the previous release's git ref, and install-use-uninstall
script_tier lifecycle scripts/lifecycle_test.py "upgrade from the previous release, uninstall"

rm -rf "$guard_dir"
echo
echo "== test tiers =="
printf '  %s\n' "${summary[@]}"
echo "  socket guard refusals: ${guards[*]}"
exit $status
