#!/usr/bin/env python3
"""Advisory database benchmarks, in one run:

1. `postwatch db import` of every OSV zip under the shared data (goal: < 2 s), and the
   index size against the zips (goal: no larger);
2. the match phase of `postwatch scan` of the bookworm-py image with everything loaded
   (OSV corpora, the Debian/Alpine records built from native data, KEV) — goal < 50 ms —
   read from `--timings`, next to trivy's full vulnerability-free scan for scale.

    bench/advisories.py [--runs N] [--osv DIR] [--images DIR] [--postwatch BIN]
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--osv", default=os.path.join(ROOT, "..", "shared", "data", "osv"))
    ap.add_argument("--images", default=os.environ.get("POSTWATCH_TEST_IMAGES", "/var/cache/postwatch-test-images"))
    ap.add_argument("--postwatch", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "postwatch"))
    args = ap.parse_args()
    zips = sorted(glob.glob(os.path.join(args.osv, "*", "all.zip")))
    if not zips:
        sys.exit(f"no OSV zips under {args.osv}")
    zip_bytes = sum(os.path.getsize(z) for z in zips)
    times, size = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            db = os.path.join(tmp, f"import{i}.db")
            start = time.perf_counter()
            subprocess.run([args.postwatch, "db", "import", "--db", db, *zips], check=True, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            size = os.path.getsize(db)
        print(f"import of {len(zips)} OSV zips ({zip_bytes / 1e6:.1f} MB): median {statistics.median(times):.2f} s "
              f"(goal < 2 s); index {size / 1e6:.1f} MB = {size / zip_bytes:.2f}x the zips (goal <= 1)")

        db = os.path.join(tmp, "all.db")
        extra = [os.path.join(ROOT, "testdata/osv-built/Debian/all.zip"), os.path.join(ROOT, "testdata/osv-built/Alpine/all.zip"),
                 os.path.join(ROOT, "testdata/kev/known_exploited_vulnerabilities.json")]
        subprocess.run([args.postwatch, "db", "import", "--db", db, *zips, *extra], check=True, stderr=subprocess.DEVNULL)
        target = os.path.join(args.images, "bookworm-py.docker.tar")
        match_ms, total = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run([args.postwatch, "scan", target, "--db", db, "--timings", "-q", "-f", "json"],
                                 check=True, capture_output=True, text=True)
            total.append(time.perf_counter() - start)
            match_ms.append(float(re.search(r"timing: match ([0-9.]+) ms", out.stderr).group(1)))
        print(f"scan of bookworm-py.docker.tar with everything loaded: match phase median {statistics.median(match_ms):.1f} ms "
              f"(goal < 50 ms); whole scan median {statistics.median(total) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
