#!/usr/bin/env bash
# Browser test of the dashboard: builds postwatch, seeds a server with real advisories
# and three test images reported by agents, then drives the pages in headless Chromium
# (Playwright, test.mjs). Screenshots go to $POSTWATCH_WEB_SCREENSHOTS (default
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

"$bin" db import --db "$work/advisories.db" \
  "$repo/testdata/osv/PyPI/all.zip" "$repo/testdata/osv-built/Debian/all.zip" >"$work/import.log" 2>&1 \
  || { cat "$work/import.log" >&2; exit 1; }
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

out="${POSTWATCH_WEB_SCREENSHOTS:-$repo/target/web-screenshots}"
mkdir -p "$out"
status=0
POSTWATCH_URL="$url" POSTWATCH_TOKEN="$user_token" SCREENSHOTS="$out" CHROMIUM="$chromium" \
  USER_DATA_DIR="$work/chromium-profile" node "$here/test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2; tail -50 "$work/server.log" >&2
  echo "web browser test: FAILED (screenshots in $out)" >&2
  exit "$status"
fi
echo "web browser test: passed (screenshots in $out)"
