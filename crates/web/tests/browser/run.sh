#!/usr/bin/env bash
# Browser test of the dashboard: builds postwatch, seeds a server with real advisories
# and three test images reported by agents, then drives the pages in headless Chromium
# (Playwright, test.mjs); one more root is scanned with a chrooted python running in it,
# for in-use evidence. Screenshots go to $POSTWATCH_WEB_SCREENSHOTS (default
# target/web-screenshots). Exit 0: passed or SKIPPED (no chromium/node outside CI);
# non-zero: failed. Under CI=true a missing chromium or node fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
images="${POSTWATCH_TEST_IMAGES:-/var/cache/postwatch-test-images}"

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "web browser test: FAILED: $1 (required under CI=true)" >&2
    exit 1
  fi
  echo "web browser test: SKIPPED: $1"
  exit 0
}
[ -x "$chromium" ] || skip "no chromium at $chromium (apt-get install -y chromium chromium-driver)"
command -v node >/dev/null || skip "no node"
command -v npm >/dev/null || skip "no npm"
for img in bookworm-minbase bullseye-py bookworm-pyapp; do
  [ -d "$images/$img.rootfs" ] || skip "no test image $images/$img.rootfs (scripts/build-test-images.sh)"
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
(cd "$repo" && cargo build -q -p postwatch)
bin="$CARGO_TARGET_DIR/debug/postwatch"
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
unset POSTWATCH_DB POSTWATCH_DATA POSTWATCH_LISTEN

# The Debian 11 corpus has no open advisory for bullseye-py's openssl and sqlite3, the
# libraries a python process loads; two constructed records (test only, as in
# crates/cli/tests/inuse.rs) make findings of them, so the in-use evidence shows.
mkdir -p "$work/records"
python3 - "$images/bullseye-py.dpkg.tsv" "$work/records" <<'PY'
import json, sys
versions = {}
for line in open(sys.argv[1]):
    name, version, source, _arch = line.rstrip("\n").split("\t")
    versions[source or name] = version
for n, source in enumerate(["openssl", "sqlite3"], 1):
    rid = f"PW-BROWSER-{n:04d}"
    record = {
        "schema_version": "1.6.0", "id": rid, "modified": "2026-11-27T00:00:00Z",
        "summary": f"constructed case for {source} (browser test only)",
        "affected": [{"package": {"ecosystem": "Debian:11", "name": source},
                      "ranges": [{"type": "ECOSYSTEM", "events": [
                          {"introduced": "0"}, {"fixed": versions[source] + "+pw1"}]}]}],
    }
    json.dump(record, open(f"{sys.argv[2]}/{rid}.json", "w"))
PY
"$bin" db import --db "$work/advisories.db" \
  "$repo/testdata/osv/PyPI/all.zip" "$repo/testdata/osv-built/Debian/all.zip" "$work/records" \
  >"$work/import.log" 2>&1 || { cat "$work/import.log" >&2; exit 1; }
user_token="$("$bin" token --data "$work/data" --name browser-test)"
enrol_token="$("$bin" token --data "$work/data" --enrolment --name browser-test)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
"$bin" server --data "$work/data" --db "$work/advisories.db" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$url/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }
for img in bookworm-minbase bullseye-py bookworm-pyapp; do
  "$bin" agent --server "$url" --token "$enrol_token" --root "$images/$img.rootfs" \
    --name "$img" --state "$work/agent-$img" --once >"$work/agent-$img.log" 2>&1 \
    || { echo "agent $img failed:" >&2; cat "$work/agent-$img.log" >&2; exit 1; }
done

# In use: python3 chrooted in the bullseye-py root loads libssl and libsqlite3; a scan
# with --in-use uploads the inventory with that evidence, so the fleet has findings in
# use (Debian 11 has advisories in the imported corpus). Needs root for chroot.
inuse=0
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  fifo="$work/python.out"; mkfifo "$fifo"
  chroot "$images/bullseye-py.rootfs" /usr/bin/python3 -B -c \
    "import ssl, sqlite3, time; print('ready', flush=True); time.sleep(600)" >"$fifo" &
  python_pid=$!
  read -r -t 30 ready <"$fifo" || ready=""
  [ "$ready" = ready ] || { echo "chrooted python did not start" >&2; exit 1; }
  "$bin" scan "$images/bullseye-py.rootfs" --in-use --server "$url" --token "$user_token" -q \
    >"$work/scan-inuse.log" 2>&1 || { echo "scan --in-use --server failed:" >&2; cat "$work/scan-inuse.log" >&2; kill "$python_pid"; exit 1; }
  kill "$python_pid"; wait "$python_pid" 2>/dev/null || true
  inuse=1
elif [ "${CI:-}" = "true" ]; then
  echo "web browser test: FAILED: the in-use seed needs root (chroot) under CI=true" >&2; exit 1
else
  echo "web browser test: in-use seed SKIPPED (needs root to chroot)"
fi

out="${POSTWATCH_WEB_SCREENSHOTS:-$repo/target/web-screenshots}"
mkdir -p "$out"
status=0
POSTWATCH_URL="$url" POSTWATCH_TOKEN="$user_token" SCREENSHOTS="$out" CHROMIUM="$chromium" INUSE="$inuse" \
  USER_DATA_DIR="$work/chromium-profile" node "$here/test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2; tail -50 "$work/server.log" >&2
  echo "web browser test: FAILED (screenshots in $out)" >&2
  exit "$status"
fi
echo "web browser test: passed (screenshots in $out)"
