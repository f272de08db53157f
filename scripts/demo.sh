#!/usr/bin/env bash
# Install what the demo needs, then run it (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dovecot >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd
  fi
fi
python3 -c "import odoo" 2>/dev/null || { echo "Odoo 18.0 is not importable: install it first (see README)"; exit 1; }
python3 -m pip install -q -r requirements-test.txt
exec python3 scripts/demo.py "$@"
