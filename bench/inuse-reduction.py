#!/usr/bin/env python3
"""How many findings --in-use takes off the list on a real workload.

    bench/inuse-reduction.py [--images DIR] [--postwatch BIN]

Runs python3's http.server chrooted in the bookworm-py test image (and fetches a page
from it, so the request path is loaded too), then scans that root filesystem with and
without --in-use. Debian 12 has no OSV corpus offline, so the advisories are built for
the packages present: one record per source package, affecting every version below
the installed one plus "+pw1" (so every binary package is vulnerable exactly once).
The reduction is then the share of installed packages whose findings no running
process loads. Real PyPI/Go/crates.io/Maven data is imported too (testdata/osv), as a
real database would hold it. Needs root (chroot). Prints totals, the in-use count and
the reduction, plus the time the in-use step took.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=os.environ.get("POSTWATCH_TEST_IMAGES", "/var/cache/postwatch-test-images"))
    ap.add_argument("--postwatch", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "postwatch"))
    ap.add_argument("--port", type=int, default=18931)
    args = ap.parse_args()
    rootfs = os.path.join(args.images, "bookworm-py.rootfs")
    truth = os.path.join(args.images, "bookworm-py.dpkg.tsv")
    sources = {}
    for line in open(truth):
        name, version, source, _arch = line.rstrip("\n").split("\t")
        sources.setdefault(source or name, set()).add(version)

    with tempfile.TemporaryDirectory() as tmp:
        records = os.path.join(tmp, "records")
        os.mkdir(records)
        for i, (source, versions) in enumerate(sorted(sources.items())):
            # Above every installed version of the source's binaries.
            fixed = max(versions, key=len) + "+pw1"
            record = {
                "schema_version": "1.6.0", "id": f"PW-BENCH-{i:04d}", "modified": "2026-11-27T00:00:00Z",
                "summary": f"constructed case for {source} (benchmark only)",
                "affected": [{"package": {"ecosystem": "Debian:12", "name": source},
                              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            }
            with open(os.path.join(records, f"PW-BENCH-{i:04d}.json"), "w") as f:
                json.dump(record, f)
        db = os.path.join(tmp, "bench.db")
        osv = [os.path.join(ROOT, "testdata/osv", e, "all.zip") for e in ("PyPI", "Go", "crates.io", "Maven")]
        subprocess.run([args.postwatch, "db", "import", "--db", db, records, *osv], check=True, capture_output=True)

        server = subprocess.Popen(
            ["chroot", rootfs, "/usr/bin/python3", "-B", "-m", "http.server", str(args.port), "--bind", "127.0.0.1",
             "--directory", "/usr/share/doc"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                sys.exit("http.server did not answer")
            scan = [args.postwatch, "scan", rootfs, "--db", db, "-f", "json", "-q", "--db-max-age", "100000"]
            plain = json.loads(subprocess.run(scan, check=True, capture_output=True).stdout)
            started = time.perf_counter()
            out = subprocess.run(scan + ["--in-use", "--timings"], check=True, capture_output=True)
            elapsed = time.perf_counter() - started
            inuse = json.loads(out.stdout)
        finally:
            server.kill()
            server.wait()

    timing = [l for l in out.stderr.decode().splitlines() if "in-use" in l]
    summary = inuse["in_use"]
    loaded = sorted(p["name"] for p in summary["packages"])
    print(f"workload: python3 -m http.server chrooted in {rootfs} (pid's root)")
    print(f"packages installed: {len(plain['packages'])}; loaded by the server: {summary['packages_in_use']} ({', '.join(loaded)})")
    print(f"findings without --in-use: {len(plain['findings'])}")
    print(f"findings in loaded packages: {summary['findings_in_use']} of {summary['findings']}")
    print(f"reduction: {summary['reduction_percent']}% fewer findings to act on")
    print(f"scan with --in-use: {elapsed:.3f} s wall; {timing[0] if timing else ''}")


if __name__ == "__main__":
    main()
