#!/usr/bin/env python3
"""Builds OSV records, in the shape osv.dev publishes (see testdata/osv/_os-samples),
from the distributions' own native advisory data, for tests that need Debian and
Alpine records (osv.dev's own Debian/Alpine corpora are not available offline).

    osv-from-native.py SHARED_DATA_DIR OUT_DIR

Writes OUT_DIR/Debian/all.zip (one DSA-NNNN-N record per Debian Security Advisory
that names buster or bullseye, with each release's fixed source version) and
OUT_DIR/Alpine/all.zip (one ALPINE-CVE-… record per CVE of the v3.4 secdb, with the
fixed apk version per package). Inputs: advisories-native/debian-security-tracker/
data/DSA/list (snapshot 2023-04-02) and advisories-native/alpine-secdb/v3.4/*.yaml.
"""
import json
import os
import re
import sys
import zipfile
from datetime import datetime

import yaml

RELEASES = {"buster": "Debian:10", "bullseye": "Debian:11"}


def debian(shared):
    path = os.path.join(shared, "advisories-native/debian-security-tracker/data/DSA/list")
    records, current = [], None
    head = re.compile(r"^\[(\d\d \w\w\w \d{4})\] (DSA-\d+-\d+) (\S+) - (.*)$")
    fixed = re.compile(r"^\t\[(\w+)\] - (\S+) (\S+)")
    for line in open(path, encoding="utf-8"):
        m = head.match(line)
        if m:
            date = datetime.strptime(m.group(1), "%d %b %Y").strftime("%Y-%m-%dT00:00:00Z")
            current = {"id": m.group(2), "summary": f"{m.group(3)} - {m.group(4)}", "modified": date,
                       "published": date, "related": [], "affected": []}
            records.append(current)
            continue
        if current is None:
            continue
        if line.startswith("\t{"):
            current["related"] = line.strip().strip("{}").split()
            continue
        m = fixed.match(line)
        if m and m.group(1) in RELEASES and not m.group(3).startswith("<"):
            current["affected"].append({
                "package": {"name": m.group(2), "ecosystem": RELEASES[m.group(1)],
                            "purl": f"pkg:deb/debian/{m.group(2)}?arch=source"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": m.group(3)}]}],
            })
    out = []
    for r in records:
        if r["affected"]:
            if not r["related"]:
                del r["related"]
            out.append(r)
    return out


def alpine(shared):
    by_cve = {}
    for repo in ("main", "community"):
        doc = yaml.safe_load(open(os.path.join(shared, f"advisories-native/alpine-secdb/v3.4/{repo}.yaml")))
        release = "Alpine:" + doc["distroversion"]
        for entry in doc.get("packages") or []:
            pkg = entry["pkg"]
            for version, cves in (pkg.get("secfixes") or {}).items():
                version = str(version)
                if version == "0":
                    continue  # "never affected" markers
                for cve in cves or []:
                    cve = str(cve).split()[0]
                    if not cve.startswith("CVE-"):
                        continue
                    rec = by_cve.setdefault(cve, {"id": f"ALPINE-{cve}", "modified": "2020-01-01T00:00:00Z",
                                                  "published": "2020-01-01T00:00:00Z", "upstream": [cve], "affected": []})
                    rec["affected"].append({
                        "package": {"name": pkg["name"], "ecosystem": release,
                                    "purl": f"pkg:apk/alpine/{pkg['name']}?arch=source"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": version}]}],
                    })
    return sorted(by_cve.values(), key=lambda r: r["id"])


def write(records, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for r in records:
            z.writestr(r["id"] + ".json", json.dumps(r, indent=2, ensure_ascii=False))
    print(f"{path}: {len(records)} records")


if __name__ == "__main__":
    shared, out = sys.argv[1], sys.argv[2]
    write(debian(shared), os.path.join(out, "Debian/all.zip"))
    write(alpine(shared), os.path.join(out, "Alpine/all.zip"))
