"""Hold brr's JSON events to docs/events.schema.json (Debian's python3-jsonschema), check
they are strict UTF-8 and keep the documented order rules; with a results dir, check its
trace.json is a Chrome trace event file (the JSON object format Perfetto and
chrome://tracing open). Usage: check_events.py EVENTS_DUMP SCHEMA RESULTS_DIR"""
import json
import subprocess
import sys

import jsonschema

dump, schema_path, results = sys.argv[1], sys.argv[2], sys.argv[3]
raw = subprocess.run([dump, results], check=True, stdout=subprocess.PIPE).stdout
text = raw.decode("utf-8", errors="strict")  # raises on any invalid byte
schema = json.load(open(schema_path, encoding="utf-8"))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
events = [json.loads(line) for line in text.splitlines()]
for e in events:
    validator.validate(e)
assert events[0]["type"] == "run_start" and events[-1]["type"] == "run_end", "first/last"
assert events[0]["version"] == 2
started, ended = set(), set()
for e in events:
    if e["type"] == "node_start":
        started.add(e["node"])
    elif e["type"] == "output":
        assert e["node"] in started and e["node"] not in ended, "output outside its node"
    elif e["type"] == "node_end":
        assert e["node"] not in ended, "two ends"
        assert e["node"] in started or e["status"] == "skipped"
        ended.add(e["node"])
assert ended == {n["id"] for n in events[0]["nodes"]}, "every node ends once"
bad = [e for e in events if e["type"] == "output" and "\ufffd" in e["line"]]
assert bad and bad[0]["line"] == "bytes \ufffd\ufffd and \ufffd( and   nul", bad
steps = {s["name"]: s for s in events[-1]["steps"]}
assert steps["push:registry/app:1"]["reason"] == "depends on test/run, which failed"
assert steps["test"]["reason"] is None and steps["test"]["status"] == "failed"

# ---- the trace ----
import os
path = os.path.join(results, "trace.json")
if True:
    trace = json.load(open(path, encoding="utf-8"))
    evs = trace["traceEvents"]
    assert trace.get("displayTimeUnit") in ("ms", "ns")
    for e in evs:
        assert e["ph"] in ("X", "M", "i", "C"), e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0, e
            assert isinstance(e["name"], str) and e["name"], e
    nodes = {e["name"]: e for e in evs if e["ph"] == "X" and e.get("cat") == "node"}
    assert set(nodes) == {"app/build", "app/run", "test/run"}, nodes.keys()
    assert nodes["test/run"]["args"]["status"] == "failed"
    assert nodes["app/build"]["args"]["kind"] == "build"
    assert nodes["app/run"]["args"]["step"] == "app"
    # one track per job slot: app/build and app/run share slot 0, test/run is on slot 1
    assert nodes["app/build"]["tid"] == nodes["app/run"]["tid"] != nodes["test/run"]["tid"]
    assert nodes["test/run"]["ts"] == 0 and nodes["test/run"]["dur"] == 2000000
    phases = [e for e in evs if e["ph"] == "X" and e.get("cat") == "phase"]
    pull = [p for p in phases if p["name"] == "pull"][0]
    assert pull["tid"] == nodes["test/run"]["tid"] and pull["ts"] == 5000 and pull["dur"] == 395000
    # phases nest inside their node
    for p in phases:
        n = nodes[p["args"]["node"]]
        assert n["ts"] <= p["ts"] and p["ts"] + p["dur"] <= n["ts"] + n["dur"], p
    waits = [e for e in evs if e["ph"] == "X" and e.get("cat") == "wait"]
    assert [(w["args"]["node"], w["dur"]) for w in waits] == [("app/run", 250000)], waits
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "slot 1" in names and "slot 2" in names, names
print("ok: %d events valid, trace has %d events" % (len(events), len(evs)))
