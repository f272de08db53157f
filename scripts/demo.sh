#!/usr/bin/env bash
# Install what the demo needs, then run it (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# apt packages the demo needs: Dovecot (the demo mailbox), a CJK font (the demo's
# Chinese and Japanese contacts render in the browser instead of boxes)
missing=()
command -v dovecot >/dev/null || missing+=(dovecot-imapd)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  command -v fc-cache >/dev/null && fc-cache -f >/dev/null 2>&1 || true
fi
python3 -c "import odoo" 2>/dev/null || { echo "Odoo 18.0 is not importable: install it first (see README)"; exit 1; }
python3 -m pip install -q -r requirements-test.txt
exec python3 scripts/demo.py "$@"
