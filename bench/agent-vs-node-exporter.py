#!/usr/bin/env python3
"""Footprint of `postwatch agent` beside Prometheus' node_exporter, over one interval.

    bench/agent-vs-node-exporter.py [--seconds 60] [--root DIR] [--postwatch BIN]

Runs both side by side for the same wall time: node_exporter (Debian's
prometheus-node-exporter, scraped every 15 s as Prometheus would) and the agent
(reporting to a local `postwatch server`, rescanning when its interval ends; its
first inventory happens inside the window). Samples each process's RSS every 0.2 s,
with its descendants' (the agent takes each inventory in a child process), and reads
its CPU time, its exited children's included, from /proc/PID/stat at the end; prints
peak and mean RSS, CPU seconds and the ratios; also an upper bound of the peak the
sampling may miss (VmHWM: the process's own plus its largest child's) and the resting
RSS (the mean of the window's last 10 s, after the agent's
inventory and upload). --root inventories another root filesystem (a test image's
rootfs stands for a typical server); the default is this host. Goal (issue 6): agent
RSS under half of node_exporter's.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def hwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User and system time of the process and of its children that have exited."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICK


def descendants(pid):
    """The process's children, grandchildren, ...: the agent inventories in a child."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{task}/children").read().split():
                out.append(int(child))
                out.extend(descendants(int(child)))
    except OSError:
        pass
    return out


def tree_rss_kib(pid):
    """RSS of the process and all its descendants, and the largest VmHWM among the
    descendants (they may live shorter than a sampling tick)."""
    total = rss_kib(pid)
    if total is None:
        return None, 0
    child_hwm = 0
    for child in descendants(pid):
        total += rss_kib(child) or 0
        try:
            child_hwm = max(child_hwm, hwm_kib(child))
        except OSError:
            pass
    return total, child_hwm


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--root", default="/")
    ap.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    ap.add_argument("--postwatch", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "postwatch"))
    args = ap.parse_args()
    if not os.path.exists(args.node_exporter):
        sys.exit(f"{args.node_exporter} missing: apt-get install prometheus-node-exporter")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        server = subprocess.Popen([args.postwatch, "server", "--data", data, "--listen", "127.0.0.1:18795"],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1)
        enrol = subprocess.run([args.postwatch, "token", "--data", data, "--enrolment"], check=True,
                               capture_output=True, text=True).stdout.strip()
        exporter = subprocess.Popen([args.node_exporter, "--web.listen-address=127.0.0.1:19195"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        agent = subprocess.Popen([args.postwatch, "agent", "--server", "http://127.0.0.1:18795", "--token", enrol,
                                  "--root", args.root, "--state", os.path.join(tmp, "agent"),
                                  "--interval", f"{args.seconds * 10}s"], stderr=subprocess.DEVNULL)
        samples = {"agent": [], "node_exporter": []}
        children_hwm = {"agent": 0.0, "node_exporter": 0.0}
        started = time.time()
        next_scrape = started + 1
        try:
            while time.time() - started < args.seconds:
                if time.time() >= next_scrape:
                    try:
                        urllib.request.urlopen("http://127.0.0.1:19195/metrics", timeout=5).read()
                    except OSError:
                        pass
                    next_scrape += 15
                for name, proc in (("agent", agent), ("node_exporter", exporter)):
                    r, child_hwm = tree_rss_kib(proc.pid)
                    if r:
                        samples[name].append(r / 1024)
                    children_hwm[name] = max(children_hwm[name], child_hwm / 1024)
                time.sleep(0.2)
            cpu = {"agent": cpu_seconds(agent.pid), "node_exporter": cpu_seconds(exporter.pid)}
            # Upper bound of the tree's peak: the process's own plus its largest child's.
            hwm = {name: hwm_kib(p.pid) / 1024 + children_hwm[name]
                   for name, p in (("agent", agent), ("node_exporter", exporter))}
        finally:
            for p in (agent, exporter, server):
                p.terminate()
                p.wait()
    print(f"window: {args.seconds} s; agent root: {args.root}; node_exporter scraped every 15 s")
    rest_samples = 50  # 10 s at 0.2 s
    print(f"{'process':<15} {'peak RSS':>10} {'mean RSS':>10} {'CPU s':>8} {'VmHWM':>9} {'resting':>9}")
    for name in ("agent", "node_exporter"):
        s = samples[name]
        rest = s[-rest_samples:]
        print(f"{name:<15} {max(s):9.1f}M {sum(s) / len(s):9.1f}M {cpu[name]:8.2f} {hwm[name]:8.1f}M {sum(rest) / len(rest):8.1f}M")
    a, n = samples["agent"], samples["node_exporter"]
    print(f"agent/node_exporter: peak RSS {max(a) / max(n):.2f}x, mean RSS {(sum(a) / len(a)) / (sum(n) / len(n)):.2f}x, "
          f"CPU {cpu['agent'] / max(cpu['node_exporter'], 0.01):.2f}x (goal: RSS < 0.5x)")
    ra, rn = a[-rest_samples:], n[-rest_samples:]
    print(f"resting RSS {(sum(ra) / len(ra)) / (sum(rn) / len(rn)):.2f}x, VmHWM {hwm['agent'] / hwm['node_exporter']:.2f}x")


if __name__ == "__main__":
    main()
