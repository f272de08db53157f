#!/usr/bin/env bash
# Odoo's own test suites (default: crm and mail) on a database WITHOUT crm_inbox and on
# one WITH it, then the counts side by side. Slow (the mail suite alone takes long on a
# small machine): a separate command, not a tier of scripts/test.sh, not CI.
#   scripts/odoo_suites.sh [--suites "crm mail"] [--port 8069] [--prefix suites] [--only with|without]
# Odoo runs a module's at_install tests while it loads, before crm_inbox is loaded (as on
# Odoo's own CI with several modules); its post_install tests run with crm_inbox loaded.
# Prints per suite and database: "tests, failures, errors" from Odoo's result line, and
# the failing test names that appear only with crm_inbox (empty = no new failure).
set -u
cd "$(dirname "$0")/.."
repo="$(pwd)"
suites="crm mail"; port=8069; prefix="suites"; variants="without with"
while [ $# -gt 0 ]; do
  case "$1" in
    --suites) suites="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --only) variants="$2"; shift 2 ;;  # "with" or "without" (two machines / in parallel)
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"; mkdir -p "$work/addons"; ln -s "$repo" "$work/addons/crm_inbox"
export PYTHONPATH="$repo/testkit${PYTHONPATH:+:$PYTHONPATH}"
status=0
for suite in $suites; do
  tags="/$suite"
  for variant in $variants; do
    db="${prefix}_${suite}_${variant}"
    dropdb --if-exists "$db" 2>/dev/null
    modules="$suite"
    [ "$variant" = with ] && modules="$suite,crm_inbox"
    log="/tmp/${db}.log"
    start=$(date +%s)
    python3 -m odoo -d "$db" --addons-path="$work/addons" -i "$modules" --without-demo=all \
      --test-enable --test-tags "$tags" --stop-after-init --http-port "$port" \
      --data-dir "$work/data" --log-level=test > "$log" 2>&1
    result=$(grep -E "odoo.tests.result: " "$log" | tail -1 | sed 's/.*odoo.tests.result: //')
    # failing tests and subtests ("FAIL: Subtest TestX.test_y (login='...')"), by name
    grep -E " (ERROR|CRITICAL) .*(FAIL|ERROR): " "$log" | sed -E 's/.*(FAIL|ERROR): //' \
      | sort -u > "$work/${suite}_${variant}.fails"
    echo "$suite $variant crm_inbox: ${result:-no result line} ($(( $(date +%s) - start )) s, log $log)"
    dropdb --if-exists "$db" 2>/dev/null
  done
  for variant in $variants; do cp "$work/${suite}_${variant}.fails" "/tmp/${prefix}_${suite}_${variant}.fails"; done
  [ "$variants" = "without with" ] || continue
  new=$(comm -13 "$work/${suite}_without.fails" "$work/${suite}_with.fails")
  if [ -n "$new" ]; then
    echo "$suite: failing only with crm_inbox:"; echo "$new" | sed 's/^/  /'; status=1
  else
    echo "$suite: no failure with crm_inbox that is not there without it"
  fi
done
rm -rf "$work"
exit $status
