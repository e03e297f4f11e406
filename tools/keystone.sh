#!/usr/bin/env bash
# Install (if missing) and start a real Keystone (the `keystone` package from PyPI) on
# loopback, for the tests that need real tokens: policy tests driven by real clients,
# vendordata's service token, keystonemiddleware's auth_token. Prints the identity URL
# (http://127.0.0.1:PORT/v3) on the last line.
#
#   bash tools/keystone.sh          # as root: install if needed, start; prints the URL
#   bash tools/keystone.sh stop     # stop the server started here
#
# Keystone lives in its own virtualenv (.venv-keystone, from Debian's python3) so its
# dependency pins never touch inject's .venv. Its state (keystone.conf, a SQLite
# database, fernet and credential keys, logs, the pid file) is under
# $INJECT_KEYSTONE_STATE. It is served by gunicorn (sync threads, no eventlet) bound to
# 127.0.0.1 only. Idempotent: a running server is left alone and its URL printed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."
top=$PWD
venv=${INJECT_KEYSTONE_VENV:-$top/.venv-keystone}
state=${INJECT_KEYSTONE_STATE:-/var/lib/inject-test/keystone}
port=${INJECT_KEYSTONE_PORT:-5000}
admin_password=${INJECT_KEYSTONE_ADMIN_PASSWORD:-inject-admin}
requirements=('keystone>=30,<31' 'gunicorn>=27,<28')
url=http://127.0.0.1:$port/v3
pidfile=$state/keystone.pid
conf=$state/keystone.conf

running() {
  [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {  # GET /v3 gives Keystone's version document
  "$venv/bin/python" - "$url" <<'EOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if json.load(r)['version']['id'].startswith('v3') else 1)
EOF
}

if [ "${1:-}" = stop ]; then
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$pidfile"
  exit 0
fi

if running && [ -x "$venv/bin/python" ] && answers; then
  echo "$url"
  exit 0
fi

# --- install: its own virtualenv from Debian's python3 --------------------------------
if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'install ok installed'; then
  echo "keystone: installing Debian's python3-venv" >&2
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends python3-venv >&2
fi
stamp=$venv/.inject-keystone-requirements
if [ ! -x "$venv/bin/python" ] \
   || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
   || [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
  echo "keystone: installing ${requirements[*]} into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q "${requirements[@]}" >&2
  echo "${requirements[*]}" > "$stamp"
fi

# --- configure ------------------------------------------------------------------------
mkdir -p "$state"
chmod 0700 "$state"
cat > "$conf" <<EOF
[DEFAULT]
log_file = $state/keystone.log
[database]
connection = sqlite:///$state/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $state/fernet-keys
[fernet_receipts]
key_repository = $state/fernet-keys
[credential]
key_repository = $state/credential-keys
[cache]
# One server process: an in-process cache is coherent and spares repeated lookups.
enabled = true
backend = dogpile.cache.memory
[identity]
# Test passwords: the fewest bcrypt rounds keep each authentication cheap.
password_hash_rounds = 4
EOF
# oslo.service's eventlet backend warns when imported; nothing here runs eventlet.
export PYTHONWARNINGS=ignore:::oslo_service.backend._eventlet.loopingcall
manage() { "$venv/bin/keystone-manage" --config-file "$conf" "$@" >&2; }
manage db_sync
# The keys belong to the user who runs the server (this script runs it as that user).
owner=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")
[ -e "$state/fernet-keys/0" ] || manage fernet_setup "${owner[@]}"
[ -e "$state/credential-keys/0" ] || manage credential_setup "${owner[@]}"
# Creates (or keeps) the admin user and project, the roles admin > manager > member >
# reader and service, the RegionOne region and the identity endpoints.
manage bootstrap --bootstrap-username admin --bootstrap-password "$admin_password" \
  --bootstrap-project-name admin --bootstrap-role-name admin \
  --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
  --bootstrap-public-url "$url" --bootstrap-internal-url "$url" \
  --bootstrap-admin-url "$url"

# --- start ----------------------------------------------------------------------------
if running; then  # alive but not answering: replace it
  kill "$(cat "$pidfile")" 2>/dev/null || true
  sleep 1
fi
rm -f "$pidfile"
if answers; then
  echo "keystone: something else answers on $url; stop it or set INJECT_KEYSTONE_PORT" >&2
  exit 1
fi
# Keystone's application parses sys.argv with oslo.config when it is imported, so
# gunicorn loads it through this shim, which hides gunicorn's own arguments from it.
cat > "$state/inject_keystone_wsgi.py" <<'EOF'
"""Keystone's public WSGI application for gunicorn (written by tools/keystone.sh)."""
import sys

sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
echo "keystone: starting on 127.0.0.1:$port" >&2
OS_KEYSTONE_CONFIG_FILES=$conf "$venv/bin/gunicorn" --daemon --pid "$pidfile" \
  --no-control-socket --bind "127.0.0.1:$port" --workers 1 --threads 8 --worker-class gthread \
  --chdir "$state" --error-logfile "$state/gunicorn.log" \
  --access-logfile "$state/access.log" inject_keystone_wsgi:application
started=$SECONDS
until answers; do
  # give up after 90 s, or when the server, given 10 s to write its pid file, is gone
  [ $SECONDS -lt $((started + 90)) ] || break
  [ $SECONDS -lt $((started + 10)) ] || running || break
  sleep 0.5
done
if ! running || ! answers; then
  echo "keystone: no answer on $url; see $state/gunicorn.log and $state/keystone.log" >&2
  tail -20 "$state/gunicorn.log" >&2 || true
  exit 1
fi
echo "$url"
