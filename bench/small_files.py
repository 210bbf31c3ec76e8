#!/usr/bin/env python3
"""Small legacy files per second: a directory of Markdown files with front
matter (a few KB each, deterministic, seed 11) migrated into SQLite and into
PostgreSQL with ferry's default command (parse + load + verification).

    cargo build --release -p ferry
    python3 bench/small_files.py [--files 10000] [--repeat 3] [--ferry target/release/ferry]

Each run gets a fresh target (a new SQLite file; a new PostgreSQL database at
--pg, dropped afterwards). The compiled parser is cached before anything is
timed (`ferry plugin check markdown`), so the figures are the steady state.
Prints files/s and records/s per target: best and median wall of --repeat runs.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORDS = (
    "ferry migrate legacy record archive customer invoice shipment note draft "
    "review policy vendor ledger quarter report summary update release change"
).split()


def write_tree(root, n):
    """`n` Markdown files in 100 folders: front matter (title, date, tags,
    author, a draft flag) and 1-6 KB of body with headings and lists."""
    rnd = random.Random(11)
    for i in range(n):
        folder = os.path.join(root, "section-%02d" % (i % 100))
        os.makedirs(folder, exist_ok=True)
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(150, 900)))
        body = "# Note %d\n\n%s\n\n## Details\n\n- item %d\n- item %d\n\n%s\n" % (
            i,
            words[: len(words) // 2],
            rnd.randint(1, 99),
            rnd.randint(1, 99),
            words[len(words) // 2 :],
        )
        front = (
            "---\ntitle: Note %d\ndate: 2019-%02d-%02dT10:%02d:00Z\ntags: [%s, %s]\n"
            "author: user%d\ndraft: %s\n---\n"
            % (
                i,
                rnd.randint(1, 12),
                rnd.randint(1, 28),
                rnd.randint(0, 59),
                rnd.choice(WORDS),
                rnd.choice(WORDS),
                rnd.randint(1, 50),
                "true" if i % 9 == 0 else "false",
            )
        )
        with open(os.path.join(folder, "note-%05d.md" % i), "w") as f:
            f.write(front + body)


def psql(pg, sql):
    subprocess.run(
        ["psql", pg + "/postgres", "-qAtc", sql], check=True, capture_output=True
    )


def run(ferry, src, to):
    t = time.monotonic()
    out = subprocess.run(
        [ferry, "migrate", "--from", "files:" + src, "--to", to, "--json"],
        capture_output=True,
    )
    wall = time.monotonic() - t
    if out.returncode != 0:
        sys.exit("ferry failed (%d): %s" % (out.returncode, out.stderr.decode()[-2000:]))
    r = json.loads(out.stdout)
    # A files run verifies against what it parsed (`files.verified`); the
    # report carries `verify` only for database sources.
    if r["status"] != "succeeded" or (r.get("verify") or {}).get("ok") is False:
        sys.exit("the run did not succeed: %s" % r["status"])
    rows = sum(t["rows_written"] for t in r["tables"])
    return wall, rows, r["phases"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ferry", default="target/release/ferry")
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ferry-small-files-")
    try:
        src = os.path.join(work, "notes")
        write_tree(src, a.files)
        size = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs
        )
        subprocess.run([a.ferry, "plugin", "check", "markdown"], check=True, capture_output=True)
        results = {"sqlite": [], "postgres": []}
        for k in range(a.repeat):
            db = os.path.join(work, "notes-%d.db" % k)
            results["sqlite"].append(run(a.ferry, src, "sqlite:" + db))
            os.remove(db)
            name = "ferry_small_files_%d_%d" % (os.getpid(), k)
            psql(a.pg, "CREATE DATABASE " + name)
            try:
                results["postgres"].append(run(a.ferry, src, "%s/%s" % (a.pg, name)))
            finally:
                psql(a.pg, "DROP DATABASE " + name)
        print(
            "%d Markdown files, %.1f MB (%.1f KB each), ferry default (parse + load + verify), %d runs"
            % (a.files, size / 1e6, size / a.files / 1e3, a.repeat)
        )
        print("%-10s %9s %9s %12s %12s" % ("target", "best", "median", "files/s", "records/s"))
        for target, runs in results.items():
            walls = [w for w, _, _ in runs]
            best, med = min(walls), statistics.median(walls)
            rows = runs[0][1]
            print(
                "%-10s %8.2fs %8.2fs %12s %12s"
                % (target, best, med, "{:,.0f}".format(a.files / med), "{:,.0f}".format(rows / med))
            )
            print("           phases of the median run: %s" % sorted(runs, key=lambda r: r[0])[len(runs) // 2][2])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
