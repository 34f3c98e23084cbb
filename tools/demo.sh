#!/usr/bin/env bash
# The demo behind `make demo`: a fresh embedded database with the bundled hospital capture, the
# demo CMMS list, recalls and vulnerability feeds, then the inventory, findings and recalls, and
# (on a terminal) the web UI. Every step is an ordinary `wardwatch` command: copy any of them.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
DB_FILE=${DEMO_DB:-var/demo.sqlite}
PORT=${PORT:-8080}
DEMO=src/wardwatch/demo
mkdir -p "$(dirname "$DB_FILE")"
rm -f "$DB_FILE" "$DB_FILE-wal" "$DB_FILE-shm"
ww() { "$BIN/wardwatch" --db "sqlite:///$DB_FILE" "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "discover: the demo capture (one hour of a simulated hospital network)"
ww discover "$DEMO/hospital-demo.pcap.gz"
step "assets: clinical engineering's CMMS list, reconciled with what the network shows"
ww assets import "$DEMO/cmms.csv"
step "recalls: FDA recall records (openFDA format)"
ww recalls import "$DEMO"/recalls/*.json
step "feeds: NVD, KEV, EPSS, CSAF advisories (offline files), matched to the inventory"
ww feeds import "$DEMO/feeds"
if ww risk --help >/dev/null 2>&1; then
  step "risk: every device scored, with its explanation (wardwatch risk --device ID)"
  ww risk --limit 15 2>/dev/null || ww risk
fi

step "inventory"
ww devices
step "vulnerability findings (wardwatch vulns --format json for everything)"
ww vulns --min-cvss 7
step "devices affected by recalls"
ww recalls
step "open alerts"
ww alerts --state open

PASSWORD_FILE="$(dirname "$DB_FILE")/demo-admin.password"
"$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$PASSWORD_FILE"
ww users add admin --role admin --password-file "$PASSWORD_FILE" >/dev/null
echo
if [ -t 0 ] && [ -t 1 ]; then
  echo "web UI: http://127.0.0.1:$PORT   login: admin   password: $(cat "$PASSWORD_FILE")   (Ctrl-C stops it)"
  exec "$BIN/wardwatch" --db "sqlite:///$DB_FILE" serve --port "$PORT"
else
  echo "web UI: run 'make serve', then open http://127.0.0.1:$PORT (login admin, password in $PASSWORD_FILE)"
fi
