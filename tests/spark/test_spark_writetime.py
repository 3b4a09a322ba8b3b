# SPDX-License-Identifier: Apache-2.0
"""The Spark job's Cassandra writetime for each kind of version, without a
JVM: the agent's clock (store/hlc.h, ms << 16 | counter) becomes its ms in
microseconds plus the counter capped at 999 (hlc_micros), a
timestamp-millis field times 1000, timestamp-micros and plain longs as they
are. test_spark_job.py holds the Spark SQL form (Schema.writetime_sql) to
hlc_micros on real rows."""
import json
import os
import sys

from sparkenv import *  # noqa: F403 (the path to harness)
from harness import SOURCE_DIR, check  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE_DIR, "sync", "spark"))
from syncagent_spark import HLC_LOGICAL_BITS, Schema, hlc_micros  # noqa: E402

MS = 1767225600000  # 2026-01-01T00:00:00Z
check(HLC_LOGICAL_BITS == 16, "HLC_LOGICAL_BITS %d, store/hlc.h has 16" % HLC_LOGICAL_BITS)
for logical, want in ((0, MS * 1000), (1, MS * 1000 + 1), (999, MS * 1000 + 999),
                      (1000, MS * 1000 + 999), (65535, MS * 1000 + 999)):
    got = hlc_micros((MS << 16) | logical)
    check(got == want, "hlc_micros(ms %d, logical %d) = %d, expected %d"
          % (MS, logical, got, want))
# a counter that carried into the ms bits is the next ms: still later
check(hlc_micros((MS << 16) + 65536) == (MS + 1) * 1000,
      "the carried counter: %d" % hlc_micros((MS << 16) + 65536))
# never goes back along a clock's values; exact below 1000 per ms
seq = [(ms << 16) | c for ms in (MS, MS + 1) for c in (0, 1, 500, 998, 999, 1000, 65535)]
got = [hlc_micros(v) for v in seq]
check(got == sorted(got), "hlc_micros is not monotonic: %s" % got)
check(len(set(hlc_micros((MS << 16) | c) for c in range(1000))) == 1000,
      "1000 versions of one ms do not get 1000 writetimes")


def schema(version_type):
    fields = [{"name": "id", "type": "string"}]
    doc = {"type": "record", "name": "T", "x-key": "id", "fields": fields}
    if version_type is not None:
        fields.append({"name": "v", "type": version_type})
        doc["x-version"] = "v"
    return Schema(json.dumps(doc), "t", 1)


cases = [
    (None, "shiftright(_ver, 16) * 1000 + least(_ver & 65535, 999)"),
    ({"type": "long", "logicalType": "timestamp-millis"}, "_ver * 1000"),
    (["null", {"type": "long", "logicalType": "local-timestamp-millis"}], "_ver * 1000"),
    ({"type": "long", "logicalType": "timestamp-micros"}, "_ver"),
    ("long", "_ver"),
]
for version_type, want in cases:
    got = schema(version_type).writetime_sql("_ver")
    check(got == want, "version type %s: writetime %r, expected %r"
          % (json.dumps(version_type), got, want))
print("spark writetime: the agent's clock (logical 0, 1, 999, 1000, 65535, a carry), "
      "%d version types" % len(cases))
