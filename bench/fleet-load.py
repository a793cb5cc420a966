#!/usr/bin/env python3
"""Load on one postwatch server: N hosts x M packages reporting, then fleet queries
and dashboard pages.

    bench/fleet-load.py [--hosts 2000] [--packages 500] [--threads 8] [--postwatch BIN]

Starts `postwatch server` (release build) on a fresh data directory with an advisory
database of the repo's real PyPI and Debian OSV data, enrols nothing (reports go in
with a user token, as CI uploads do), and sends one full report per simulated host:
the bullseye-py test image's real dpkg packages (Debian 11) and the real old PyPI
dist-infos (so every host has real findings), padded with synthetic npm packages to
--packages, each host dropping a few at random so hosts differ. Then it times fleet
queries (p50/p99 over --queries runs each) and reads the server's peak RSS.
Goals (issue 6): p99 < 200 ms, server < 500 MB.
"""
import argparse
import concurrent.futures
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def request(url, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{url}: HTTP {e.code}: {e.read().decode(errors='replace')[:500]}")


def base_packages(images):
    pkgs = []
    for line in open(os.path.join(images, "bullseye-py.dpkg.tsv")):
        name, version, source, arch = line.rstrip("\n").split("\t")
        pkgs.append({
            "name": name, "version": version, "ecosystem": "Debian:11",
            "purl": f"pkg:deb/debian/{name}@{version}?arch={arch}&distro=debian-11",
            "package_manager": "dpkg", "arch": arch, "source_name": source or name,
            "source_version": version, "found_in": "/var/lib/dpkg/status", "file_count": 0,
        })
    for line in open(os.path.join(images, "bookworm-pyapp.pypi.tsv")):
        name, version = line.rstrip("\n").split("\t")
        pkgs.append({
            "name": name, "version": version, "ecosystem": "PyPI",
            "purl": f"pkg:pypi/{name.lower()}@{version}", "package_manager": "pip",
            "found_in": f"/app/site-packages/{name}-{version}.dist-info/METADATA", "file_count": 0,
        })
    return pkgs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--packages", type=int, default=500)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--port", type=int, default=18790)
    ap.add_argument("--images", default=os.environ.get("POSTWATCH_TEST_IMAGES", "/var/cache/postwatch-test-images"))
    ap.add_argument("--postwatch", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "postwatch"))
    args = ap.parse_args()
    rng = random.Random(42)
    base = base_packages(args.images)

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "advisories.db")
        subprocess.run([args.postwatch, "db", "import", "--db", db,
                        os.path.join(ROOT, "testdata/osv/PyPI/all.zip"),
                        os.path.join(ROOT, "testdata/osv-built/Debian/all.zip")], check=True, capture_output=True)
        data = os.path.join(tmp, "data")
        env = dict(os.environ, POSTWATCH_DB=db)
        server = subprocess.Popen([args.postwatch, "server", "--data", data, "--listen", f"127.0.0.1:{args.port}", "--db", db],
                                  env=env, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stderr.readline()
            if "listening" not in line:
                sys.exit(f"server did not start: {line}")
            url = f"http://127.0.0.1:{args.port}"
            token = subprocess.run([args.postwatch, "token", "--data", data], check=True, capture_output=True, text=True).stdout.strip()

            def report(i):
                pkgs = [p for p in base if rng.random() > 0.02]
                for j in range(args.packages - len(pkgs)):
                    name = f"synthetic-{(i * 7 + j) % 5000}"
                    pkgs.append({"name": name, "version": f"1.{j % 17}.{i % 5}", "ecosystem": "npm",
                                 "purl": f"pkg:npm/{name}@1.{j % 17}.{i % 5}", "package_manager": "npm",
                                 "found_in": f"/srv/app/node_modules/{name}/package.json", "file_count": 0})
                return {
                    "protocol": "1", "report_id": f"load-{i}", "taken_at": "2026-11-27T00:00:00Z",
                    "asset": {"kind": "host", "name": f"host-{i:05d}"},
                    "facts": {"hostname": f"host-{i:05d}", "cpu_cores": [2, 4, 8, 16][i % 4],
                              "memory_bytes": [4, 8, 16, 64][i % 4] << 30, "agent_version": "load",
                              "os": {"id": "debian", "version_id": "11", "pretty_name": "Debian GNU/Linux 11 (bullseye)", "ecosystem": "Debian:11", "source_file": "etc/os-release"}},
                    "inventory": {"type": "full", "target": {"name": "/", "type": "host"},
                                  "os": {"id": "debian", "version_id": "11", "ecosystem": "Debian:11", "source_file": "etc/os-release"}, "packages": pkgs},
                }

            reports = [report(i) for i in range(args.hosts)]
            started = time.perf_counter()
            latencies = []

            def send(r):
                t = time.perf_counter()
                ack = request(f"{url}/api/v1/reports", token, r)
                latencies.append(time.perf_counter() - t)
                if not ack.get("stored"):
                    raise SystemExit(f"not stored: {ack}")

            with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(send, reports))
            ingest = time.perf_counter() - started
            latencies.sort()
            print(f"ingest: {args.hosts} hosts x {args.packages} packages in {ingest:.1f} s "
                  f"({args.hosts / ingest:.0f} reports/s; report p50 {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms, stored and matched before the answer)")
            summary = request(f"{url}/api/v1/fleet/summary", token)
            print(f"open findings in the fleet: {summary['findings']['total']['total']}")

            queries = {
                "fleet summary": "/api/v1/fleet/summary",
                "assets (riskiest 100)": "/api/v1/assets?limit=100",
                "findings HIGH,CRITICAL (100)": "/api/v1/findings?severity=HIGH,CRITICAL&limit=100",
                "findings of one package": "/api/v1/findings?package=urllib3&limit=100",
                "findings of one host": "/api/v1/findings?asset=1000",
                "history 30 days": "/api/v1/history",
            }
            worst = 0.0
            for label, path in queries.items():
                times = []
                for _ in range(args.queries):
                    t = time.perf_counter()
                    request(url + path, token)
                    times.append(time.perf_counter() - t)
                times.sort()
                p50, p99 = statistics.median(times) * 1000, times[max(0, int(len(times) * 0.99) - 1)] * 1000
                worst = max(worst, p99)
                print(f"  {label:<30} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
            # The dashboard's pages, rendered by the server from the same store.
            pages = {
                "page: overview": "/",
                "page: assets": "/assets",
                "page: one asset": "/assets/1000",
                "page: vulnerability": "/vulns/CVE-2023-43804",
                "page: package": "/packages/urllib3",
                "page: assets, page 5 by name": "/assets?sort=name&dir=asc&page=5",
                "page: package assets, page 3": "/packages/libc6?page=3",
                "page: vulnerability by alias": "/vulns/GHSA-v845-jxx5-vc9f",
                "page: search (substring)": "/search?q=ssl",
            }
            for label, path in pages.items():
                times = []
                for _ in range(max(5, args.queries // 5)):
                    req = urllib.request.Request(url + path)
                    req.add_header("Cookie", f"postwatch_session={token}")
                    t = time.perf_counter()
                    with urllib.request.urlopen(req, timeout=60) as r:
                        r.read()
                        if r.status != 200:
                            sys.exit(f"{path}: HTTP {r.status}")
                    times.append(time.perf_counter() - t)
                times.sort()
                p50, p99 = statistics.median(times) * 1000, times[max(0, int(len(times) * 0.99) - 1)] * 1000
                print(f"  {label:<30} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   (goal < 200 ms)")
            status = open(f"/proc/{server.pid}/status").read()
            hwm = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
            rss = int(next(l for l in status.splitlines() if l.startswith("VmRSS")).split()[1]) / 1024
            size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)) / 2**20
            print(f"worst query p99: {worst:.1f} ms (goal < 200); server peak RSS {hwm:.0f} MiB, now {rss:.0f} MiB (goal < 500); store {size:.0f} MiB on disk")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
