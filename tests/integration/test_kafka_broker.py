# SPDX-License-Identifier: Apache-2.0
"""The Kafka test broker of the CTest fixture `kafka` (tools/testenv/kafka)
takes and serves records: 1000 messages produced with kcat to a new topic
come back, unchanged, spread over the topic's 3 partitions by key, each
partition in the order they were sent."""
import os
import subprocess
import sys
import time
import uuid

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.getcwd()
BOOTSTRAP_FILE = os.path.join(BINARY_DIR, "testenv", "kafka", "bootstrap")
COUNT = 1000


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def kcat(args, stdin=None):
    try:
        proc = subprocess.run(["kcat"] + args, input=stdin, capture_output=True,
                              timeout=60)
    except FileNotFoundError:
        fail("kcat is not installed: run tools/setup")
    except subprocess.TimeoutExpired:
        fail("kcat %s did not finish within 60 s" % " ".join(args))
    if proc.returncode != 0:
        fail("kcat %s: exit %d\n%s" % (" ".join(args), proc.returncode,
                                       proc.stderr.decode(errors="replace")))
    return proc.stdout


try:
    with open(BOOTSTRAP_FILE) as f:
        bootstrap = f.read().strip()
except OSError as e:
    fail("no bootstrap address (%s): the kafka.start fixture did not run" % e)
if not bootstrap:
    fail(BOOTSTRAP_FILE + " is empty")

topic = "sa-test-broker-" + uuid.uuid4().hex[:12]
# Keyed by their index; distinct payloads of varied length with bytes a
# text-only path would mangle (but no newline: kcat splits on it).
keys = [b"%04d" % i for i in range(COUNT)]
sent = [k + b":" + uuid.uuid4().bytes.replace(b"\n", b"\x00") * (1 + i % 7)
        for i, k in enumerate(keys)]

t0 = time.monotonic()
kcat(["-P", "-b", bootstrap, "-t", topic, "-X", "acks=all",
      "-X", "partitioner=murmur2_random", "-K", "\t"],
     stdin=b"".join(k + b"\t" + v + b"\n" for k, v in zip(keys, sent)))
t1 = time.monotonic()

# One line per message: partition, key, payload; kcat exits once it has
# reached the end of every partition.
out = kcat(["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
            "-f", "%p %k %s\n"])
t2 = time.monotonic()

got = []
last_index = {}
partitions = set()
for line in out.split(b"\n")[:-1]:
    part, _, rest = line.partition(b" ")
    key, _, payload = rest.partition(b" ")
    if payload[:4] != key:
        fail("message %r came with key %r" % (payload[:4], key))
    got.append(payload)
    partitions.add(part)
    index = int(key)
    if index <= last_index.get(part, -1):
        fail("partition %s: message %d after %d" % (part.decode(), index,
                                                     last_index[part]))
    last_index[part] = index

if len(got) != COUNT:
    fail("consumed %d messages, produced %d" % (len(got), COUNT))
if sorted(got) != sorted(sent):
    missing = set(sent) - set(got)
    fail("content differs: %d sent messages missing, e.g. %r" % (
        len(missing), sorted(missing)[:3]))

if len(partitions) != 3:
    fail("messages landed on %d partitions, expected 3" % len(partitions))
meta = kcat(["-L", "-b", bootstrap, "-t", topic]).decode()
if "with 3 partitions" not in meta:
    fail("topic %s was not auto-created with 3 partitions:\n%s" % (topic, meta))

print("kafka broker %s: %d messages over %d partitions, produce %.2fs, consume %.2fs"
      % (bootstrap, COUNT, len(partitions), t1 - t0, t2 - t1))
