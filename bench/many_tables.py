#!/usr/bin/env python3
"""A many-table SQLite database for measuring a target's finishing phase
(keys, indexes, checks, foreign keys): 16 tables of 3,125 rows (50,000 in
all), each with an integer key, a named unique constraint, three indexes
and one or two named foreign keys to earlier tables. Deterministic (seed 7).

    python3 bench/many_tables.py /tmp/many.db
    mariadb -uroot -h127.0.0.1 -e 'CREATE DATABASE many'
    ferry migrate --from sqlite:/tmp/many.db --to mysql://root@127.0.0.1:3306/many --json \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["phases"])'
"""
import os
import random
import sqlite3
import sys

TABLES = 16
ROWS = 3125

path = sys.argv[1]
if os.path.exists(path):
    os.remove(path)
db = sqlite3.connect(path)
random.seed(7)
for i in range(TABLES):
    cols, fks = "", ""
    if i >= 1:
        cols += ", p1 INTEGER"
        fks += ", CONSTRAINT fk_t%02d_p1 FOREIGN KEY (p1) REFERENCES t%02d(id)" % (i, i - 1)
    if i >= 2:
        cols += ", p2 INTEGER"
        fks += ", CONSTRAINT fk_t%02d_p2 FOREIGN KEY (p2) REFERENCES t%02d(id)" % (i, i - 2)
    db.execute(
        """CREATE TABLE t%02d (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL, name VARCHAR(40),
        qty SMALLINT, price NUMERIC(10,2), created TEXT, note TEXT%s,
        CONSTRAINT uq_t%02d_code UNIQUE (code)%s)""" % (i, cols, i, fks)
    )
    db.execute("CREATE INDEX ix_t%02d_name ON t%02d (name)" % (i, i))
    db.execute("CREATE INDEX ix_t%02d_qty_price ON t%02d (qty, price)" % (i, i))
    db.execute("CREATE INDEX ix_t%02d_created ON t%02d (created)" % (i, i))
    rows = []
    for r in range(1, ROWS + 1):
        row = [
            r,
            "C%02d-%06d" % (i, r),
            "name %d" % random.randint(1, 5000),
            random.randint(0, 30000),
            "%d.%02d" % (random.randint(0, 99999), random.randint(0, 99)),
            "2024-%02d-%02d 10:00:00" % (random.randint(1, 12), random.randint(1, 28)),
            "note " * random.randint(1, 10),
        ]
        if i >= 1:
            row.append(random.randint(1, ROWS))
        if i >= 2:
            row.append(random.randint(1, ROWS))
        rows.append(row)
    db.executemany(
        "INSERT INTO t%02d VALUES (%s)" % (i, ",".join("?" * len(rows[0]))), rows
    )
db.commit()
print(sum(db.execute("SELECT COUNT(*) FROM t%02d" % i).fetchone()[0] for i in range(TABLES)))
