#!/usr/bin/env python3
"""Metrics store benchmark: postwatch, Prometheus and VictoriaMetrics side by side.

The same remote_write stream (node_exporter-like series from
`remote_write_load`, an example of postwatch-metricsio) goes into each store, one after
the other; then each store compacts, and the same PromQL range queries run against each.
Prints, per store: samples/s ingested, bytes on disk per sample, peak RSS, and the
median latency of each query, with postwatch's ratios.

Needs: Debian's `prometheus` and `victoria-metrics` packages, and
  cargo build --release -p postwatch && cargo build --release -p postwatch-metricsio --example remote_write_load

Disk is measured the same way for every store: the allocated size of its whole data
directory (postwatch: DATA/metrics; blocks, WAL, metadata) after each store's own way of
compacting: postwatch's admin compact (flush the head, merge every window), Prometheus'
own schedule (its head stays in the WAL), VictoriaMetrics' force_flush and force_merge.
The default is the full simulated day.

postwatch runs twice: with its default (each remote_write answer waits for its fsync)
and as `postwatch-sync1s` with `wal_sync_seconds = 1` (answered once in the WAL file,
fsynced every second: what Prometheus guarantees, surviving kill -9 but not a power cut).

Usage: bench/metrics-vs-prometheus.py [--series 10000] [--hours 24] [--runs 5]
           [--stores postwatch,postwatch-sync1s,prometheus,victoriametrics] [--workdir DIR]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
POSTWATCH = os.path.join(TARGET, "release", "postwatch")
LOADGEN = os.path.join(TARGET, "release", "examples", "remote_write_load")

QUERIES = [
    ("cpu by mode", 'sum by (mode) (rate(node_cpu_seconds_total[5m]))'),
    ("memory used %", '100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)'),
    ("top 5 rx", 'topk(5, rate(node_network_receive_bytes_total[5m]))'),
    ("load max 1h", 'max_over_time(node_load1[1h])'),
    ("one host cpu", 'rate(node_cpu_seconds_total{instance="host-007:9100",mode="user"}[5m])'),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, key="VmHWM"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def http(url, token=None, data=None, timeout=600):
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


def wait_http(url, token=None, deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        try:
            http(url, token, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


class Store:
    name = ""
    token = None

    def breakdown(self):
        """Bytes per top-level entry of the data directory, for the log."""
        root = self.data_root()
        return sorted(((name, dir_bytes(os.path.join(root, name)) if os.path.isdir(os.path.join(root, name))
                        else os.lstat(os.path.join(root, name)).st_blocks * 512)
                       for name in os.listdir(root)), key=lambda e: -e[1])

    def data_root(self):
        return self.data

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Postwatch(Store):
    """The default: every remote_write answer waits for its fsync."""
    name = "postwatch"
    config = ""

    def __init__(self, work):
        self.log = os.path.join(work, f"{self.name}.log")
        self.port = free_port()
        self.data = os.path.join(work, self.name)
        os.makedirs(self.data)
        self.token = subprocess.check_output(
            [POSTWATCH, "token", "--data", self.data, "--name", "bench"], text=True
        ).strip()
        config = os.path.join(work, f"{self.name}.toml")
        with open(config, "w") as f:
            f.write(f"data_dir = {json.dumps(self.data)}\n" + self.config)
        self.proc = subprocess.Popen(
            [POSTWATCH, "server", "--config", config, "--data", self.data,
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/healthz")
        self.write_url = self.base + "/api/v1/write"

    def compact(self):
        http(self.base + "/api/v1/admin/tsdb/compact", self.token, data=b"")

    def data_root(self):
        return os.path.join(self.data, "metrics")

    def disk(self):
        return dir_bytes(self.data_root())


class PostwatchSyncEverySecond(Postwatch):
    """`wal_sync_seconds = 1`: answered once in the WAL file, fsynced every second;
    Prometheus' own guarantee (survives kill -9, not a power cut)."""
    name = "postwatch-sync1s"
    config = "[metrics]\nwal_sync_seconds = 1\n"


class Prometheus(Store):
    name = "prometheus"

    def __init__(self, work):
        self.log = os.path.join(work, "prometheus.log")
        self.port = free_port()
        self.data = os.path.join(work, "prometheus")
        os.makedirs(self.data)
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             "--web.enable-admin-api", "--storage.tsdb.retention.time=10y"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/-/ready")
        self.write_url = self.base + "/api/v1/write"

    def compact(self):
        # Prometheus compacts its head on its own schedule and has no API to force it;
        # the size that counts is the data directory (blocks, head chunks, WAL) after a
        # pause for compactions already running.
        time.sleep(5)

    def disk(self):
        return dir_bytes(self.data)


class Victoria(Store):
    name = "victoriametrics"

    def __init__(self, work):
        self.log = os.path.join(work, "victoria.log")
        self.port = free_port()
        self.data = os.path.join(work, "victoria")
        self.proc = subprocess.Popen(
            ["victoria-metrics", f"-storageDataPath={self.data}", f"-httpListenAddr=127.0.0.1:{self.port}",
             "-retentionPeriod=10y", "-search.latencyOffset=0s"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/health")
        self.write_url = self.base + "/api/v1/write"

    def compact(self):
        http(self.base + "/internal/force_flush")
        http(self.base + "/internal/force_merge")
        time.sleep(10)

    def disk(self):
        return dir_bytes(self.data)


def run_store(cls, work, stream, args, start_ms, end_ms):
    store = cls(work)
    try:
        cmd = [LOADGEN, "send", "--in", stream, "--url", store.write_url, "--concurrency", "2"]
        if store.token:
            cmd += ["--bearer", store.token]
        load = json.loads(subprocess.check_output(cmd, text=True))
        if load["errors"]:
            # Counted, not fatal: a store refusing part of the stream (Prometheus answers
            # 400 for samples outside its head's appendable window) still gets measured;
            # samples/s and bytes/sample count only accepted requests.
            print(f"  {store.name}: {load['errors']} of {load['requests']} requests failed, first: "
                  f"{load['first_error']}", file=sys.stderr)
            with open(store.log, errors="replace") as log:
                reasons = [line.strip() for line in log if "rror" in line or "out of" in line]
            for line in reasons[:3]:
                print(f"    {line[:300]}", file=sys.stderr)
        store.compact()
        disk = store.disk()
        print(f"  {store.name}: {load['samples']} samples in {load['seconds']:.1f} s; on disk {disk} bytes: "
              + ", ".join(f"{name} {size}" for name, size in store.breakdown()), file=sys.stderr)
        rss_ingest = rss_kib(store.proc.pid)
        latencies = {}
        for label, query in QUERIES:
            params = urllib.parse.urlencode({
                "query": query, "start": start_ms / 1000, "end": end_ms / 1000, "step": "60"})
            times = []
            for _ in range(args.runs):
                # The latency is the store's: request out, whole answer in. Parsing the
                # JSON here (100+ ms for the multi-megabyte answers) is left out.
                t0 = time.perf_counter()
                raw = http(store.base + "/api/v1/query_range?" + params, store.token)
                times.append(time.perf_counter() - t0)
                body = json.loads(raw)
                if body.get("status") != "success" or not body["data"]["result"]:
                    raise SystemExit(f"{store.name}: query {query!r} gave {str(body)[:200]}")
            latencies[label] = statistics.median(times)
        return {
            "failed_requests": load["errors"],
            "samples_per_s": load["samples"] / load["seconds"],
            "samples": load["samples"],
            "bytes_per_sample": disk / load["samples"],
            "rss_mib": max(rss_ingest, rss_kib(store.proc.pid)) / 1024,
            "rss_ingest_mib": rss_ingest / 1024,
            "latency": latencies,
        }
    finally:
        store.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", help="where the stream and the stores' data go (default: the system temp dir)")
    ap.add_argument("--stores", default="postwatch,postwatch-sync1s,prometheus,victoriametrics",
                    help="comma-separated subset to run (the ratios need postwatch and the peer)")
    args = ap.parse_args()
    for tool in ("prometheus", "victoria-metrics"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install prometheus victoria-metrics")
    for path in (POSTWATCH, LOADGEN):
        if not os.path.exists(path):
            raise SystemExit(f"{path} missing: see the build line at the top of this script")
    end_ms = (int(time.time()) // 60) * 60 * 1000 - 60_000
    start_ms = end_ms - int(args.hours * 3600_000)
    results = {}
    with tempfile.TemporaryDirectory(prefix="pw-metrics-bench-", dir=args.workdir) as work:
        stream = os.path.join(work, "stream.bin")
        subprocess.check_call([LOADGEN, "generate", "--out", stream, "--series", str(args.series),
                               "--hours", str(args.hours), "--start-ms", str(start_ms)], stdout=subprocess.DEVNULL)
        # The stream file's writeback would otherwise compete with whichever store runs
        # first (and only with stores that fsync); each store starts on a quiet disk.
        os.sync()
        wanted = set(args.stores.split(","))
        for cls in (Postwatch, PostwatchSyncEverySecond, Prometheus, Victoria):
            if cls.name not in wanted:
                continue
            print(f"running {cls.name} ...", file=sys.stderr)
            os.sync()
            results[cls.name] = run_store(cls, work, stream, args, start_ms, end_ms)
    samples = next(iter(results.values()))["samples"]
    print(f"{args.series} series x {args.hours} h at 15 s = {samples} samples; queries: {args.hours} h, step 60 s, median of {args.runs}")
    ratios = [(n, ours, other) for n, ours, other in (
        ("pw/prom", "postwatch", "prometheus"), ("pw/vm", "postwatch", "victoriametrics"),
        ("1s/prom", "postwatch-sync1s", "prometheus"))
        if ours in results and other in results]
    header = f"{'':24}" + "".join(f"{n:>17}" for n in results) + "".join(f"{n:>10}" for n, _, _ in ratios)
    print(header)
    print("-" * len(header))

    def row(label, key, fmt):
        value = (lambda r: r[key]) if not callable(key) else key
        line = f"{label:24}" + "".join(f"{fmt.format(value(r)):>17}" for r in results.values())
        for _, ours, other in ratios:
            line += f"{value(results[ours]) / value(results[other]):>9.2f}x"
        print(line)

    row("ingest samples/s", "samples_per_s", "{:,.0f}")
    if any(r["failed_requests"] for r in results.values()):
        print(f"{'failed requests':24}" + "".join(f"{r['failed_requests']:>16}" for r in results.values()))
    row("disk bytes/sample", "bytes_per_sample", "{:.3f}")
    row("peak RSS MiB", "rss_mib", "{:.1f}")
    row("  of which ingest+compact", "rss_ingest_mib", "{:.1f}")
    for label, _ in QUERIES:
        row(f"q: {label} (ms)", lambda r, l=label: r["latency"][l] * 1000, "{:.1f}")


if __name__ == "__main__":
    main()
