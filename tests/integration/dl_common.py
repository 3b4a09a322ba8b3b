# SPDX-License-Identifier: Apache-2.0
"""What the dead-letter repair tests share: a config with one CSV source
`wx` (stream wx: station, note, id, temp) reading in/*.csv into a file
sink, and helpers to import, list and replay."""
import csv
import json
import sqlite3

from harness import *

WX_SCHEMA = json.dumps({
    "type": "record", "name": "Wx", "namespace": "io.syncagent.test",
    "x-key": "id",
    "fields": [{"name": "station", "type": "string"},
               {"name": "note", "type": "string"},
               {"name": "id", "type": "long"},
               {"name": "temp", "type": "double"}]})


def wx_config(work):
    os.makedirs(work.join("schemas", "wx"))
    os.makedirs(work.join("in"))
    work.write(os.path.join("schemas", "wx", "v1.avsc"), WX_SCHEMA)
    return work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + work.join("schemas"),
        "sources:",
        "  - name: wx", "    type: csv", "    stream: wx",
        "    path: " + work.join("in", "*.csv"), "    watch: false",
        "sinks:", "  - name: out", "    type: file", "    path: " + work.join("out"),
        "    format: ndjson", ""]))


def write_csv(path, text):
    """Write path as a new file (a new inode, renamed into place)."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def dl_list(cfg):
    out = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def dl_by_location(cfg, path):
    return [d for d in dl_list(cfg) if d["location"].startswith(path + ":")]


def write_fixed(path, rows):
    """A --from file: [(id, raw)]."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "raw"])
        for r in rows:
            w.writerow(r)


def spool_sql(work, sql, args=()):
    db = sqlite3.connect(work.join("data", "spool.db"))
    try:
        rows = db.execute(sql, args).fetchall()
        db.commit()
    finally:
        db.close()
    return rows


def drained(cfg, work):
    """Run the sinks to the end; the wx records by id."""
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    return {r["id"]: r for r in read_ndjson_by_stream(work.join("out")).get("wx", [])}
