#!/usr/bin/python3
"""The JSON Schemas brr prints (--print-schema, --print-schema global) against real files.

- both are valid draft-07 schemas (Debian's python3-jsonschema);
- every buildrunner example under CONFORMANCE_DIR without template syntax validates: files
  with a top-level `steps` against the project schema, the others against the global one;
- a misspelt key does not: every key of the top level, of each step, of its run and build
  maps (and every top-level key of a global file) is misspelt in turn (two neighbouring
  letters swapped) and the schema must refuse the result, and so must brr's validator
  (exit 78): the schema and the validator come from the same tables and must agree.
Skipped (exit 77) when CONFORMANCE_DIR is absent.
Usage: schema_test.py BRR CONFORMANCE_DIR
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import jsonschema
import yaml


def misspell(key):
    for i in range(len(key) - 1):
        if key[i] != key[i + 1] and key[i].isalpha() and key[i + 1].isalpha():
            return key[:i] + key[i + 1] + key[i] + key[i + 2:]
    return key + "x"


def rename(d, old, new):
    return {(new if k == old else k): v for k, v in d.items()}


def mutations(doc, is_global):
    """(description, mutated doc) for every key worth misspelling"""
    for k in list(doc):
        yield k, rename(doc, k, misspell(k))
    if is_global:
        return
    for name, step in (doc.get("steps") or {}).items():
        if not isinstance(step, dict):
            continue
        for k in list(step):
            m = copy.deepcopy(doc)
            m["steps"][name] = rename(step, k, misspell(k))
            yield f"steps.{name}.{k}", m
        for task in ("run", "build"):
            sub = step.get(task)
            if not isinstance(sub, dict):
                continue
            for k in list(sub):
                m = copy.deepcopy(doc)
                m["steps"][name][task] = rename(sub, k, misspell(k))
                yield f"steps.{name}.{task}.{k}", m


def brr_refuses(brr, tmp, doc, is_global):
    d = tempfile.mkdtemp(dir=tmp)
    name = ".buildrunner.yaml" if is_global else "buildrunner.yaml"
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f)
    if is_global:
        with open(os.path.join(d, "buildrunner.yaml"), "w", encoding="utf-8") as f:
            f.write("steps:\n  s:\n    run: {image: busybox}\n")
    env = dict(os.environ, BRR_MASTER_CONFIG="", BRR_USER_CONFIG="", NO_COLOR="1")
    r = subprocess.run([brr, "-d", d, "--list-steps"], cwd=d, env=env, capture_output=True, text=True)
    return r.returncode == 78 and "unknown key" in r.stderr, r


def main(brr, conf):
    brr = os.path.abspath(brr)
    examples = os.path.join(conf, "buildrunner-examples")
    if not os.path.isdir(examples):
        print(f"SKIPPED: buildrunner's examples are not at {examples} "
              "(configure with -DBRR_CONFORMANCE_DIR=<dir>)")
        return 77
    schemas = {}
    for kind, args in (("project", ["--print-schema"]), ("global", ["--print-schema", "global"])):
        out = subprocess.run([brr] + args, check=True, capture_output=True, text=True).stdout
        schemas[kind] = json.loads(out)
        jsonschema.Draft7Validator.check_schema(schemas[kind])
    again = subprocess.run([brr, "--print-schema=global"], check=True, capture_output=True, text=True).stdout
    assert json.loads(again) == schemas["global"], "--print-schema=global differs from --print-schema global"
    validators = {k: jsonschema.Draft7Validator(s) for k, s in schemas.items()}

    fail = 0
    valid = refused = 0
    with tempfile.TemporaryDirectory() as tmp:
        for dirpath, _, names in sorted(os.walk(conf)):
            for n in sorted(names):
                if not n.endswith((".yaml", ".yml")):
                    continue
                path = os.path.join(dirpath, n)
                text = open(path, encoding="utf-8").read()
                if "{{" in text or "{%" in text or "{#" in text:
                    continue
                doc = yaml.safe_load(text)
                is_global = not (isinstance(doc, dict) and "steps" in doc)
                v = validators["global" if is_global else "project"]
                errs = sorted(v.iter_errors(doc), key=str)
                rel = os.path.relpath(path, conf)
                if errs:
                    fail = 1
                    print(f"FAIL {rel}: the schema refuses a valid example:")
                    for e in errs[:5]:
                        print(f"    at {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
                    continue
                valid += 1
                for what, m in mutations(doc, is_global):
                    if v.is_valid(m):
                        fail = 1
                        print(f"FAIL {rel}: misspelt {what} -> {misspell(what.split('.')[-1])} passes the schema")
                        continue
                    ok, r = brr_refuses(brr, tmp, m, is_global)
                    if not ok:
                        fail = 1
                        print(f"FAIL {rel}: misspelt {what}: brr exit {r.returncode}, not 78 with unknown key:"
                              f" {r.stderr[:300]}")
                        continue
                    refused += 1
    print(f"{valid} examples validate; {refused} misspelt keys refused by the schema and by brr")
    if valid < 30 or refused < 100:
        print("FAIL: fewer files or mutations than the conformance folder holds")
        fail = 1
    return fail


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
