#!/usr/bin/env bash
# Build and install the addon the OCA way (whool), then install it into a fresh database
# with no addons-path entry for the checkout: `-i crm_inbox` must find it under odoo/addons.
#   scripts/check_packaging.sh      (needs Odoo 18.0 importable and PostgreSQL; uninstalls the
#                                    wheel again at the end, leaving the environment as it was)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
db="crm_inbox_pkg_$$"
trap 'pip uninstall -y -q odoo-addon-crm_inbox >/dev/null 2>&1 || true; dropdb --if-exists "$db" 2>/dev/null || true; rm -rf "$work"' EXIT
# whool takes the addon name from the folder name: build from a clone named crm_inbox
# (what is committed; a symlink would not do, pip resolves it)
git clone -q "$repo" "$work/crm_inbox"
pip wheel -q --no-deps -w "$work/dist" "$work/crm_inbox"
wheel="$(ls "$work"/dist/odoo_addon_crm_inbox-*.whl)"
echo "built $(basename "$wheel")"
unzip -l "$wheel" | grep -q "odoo/addons/crm_inbox/__manifest__.py"
pip install -q --no-deps --force-reinstall "$wheel"
python3 - <<'PY'
from importlib.metadata import metadata
m = metadata("odoo-addon-crm_inbox")
print("installed", m["Name"], m["Version"], "requires", ", ".join(m.get_all("Requires-Dist") or []))
PY
dropdb --if-exists "$db" 2>/dev/null || true
# the default addons path only: odoo/addons (where the wheel put crm_inbox) and Odoo's own
python3 -m odoo -d "$db" -i crm_inbox --without-demo=all --stop-after-init --http-port 0 \
    --data-dir "$work/data" --log-level=warn
state=$(psql -tAqd "$db" -c "SELECT state FROM ir_module_module WHERE name = 'crm_inbox'")
echo "crm_inbox in a database with no addons path for the checkout: $state"
[ "$state" = "installed" ]
