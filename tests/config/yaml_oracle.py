#!/usr/bin/python3
"""Compare brr's YAML loader with PyYAML (the loader buildrunner uses) on a corpus.

Usage: yaml_oracle.py YAML_DUMP

Two parts:
  * cases.yamlcorpus: whole documents separated by lines "#---"; each is loaded by PyYAML
    (yaml.Loader, as buildrunner) and by yaml_dump; the Python reprs must be equal, or both
    must fail.
  * a generated list of several thousand plain scalars built from the characters YAML 1.1's
    resolver cares about; every item must get the same type and value.
Known, documented differences are not in the corpus: timestamps and !!binary (brr keeps
strings), !!set (a map with null values), and `=` / `<<` as plain values (PyYAML has no
constructor for them and fails; brr keeps the string).
"""
import itertools
import os
import subprocess
import sys
import tempfile

import yaml


def pyyaml_repr(text):
    try:
        data = yaml.load(text, Loader=yaml.Loader)
    except Exception as e:  # PyYAML raises ValueError etc. for bad explicit tags
        return None, str(e).splitlines()[0]
    if data is None:
        data = {}
    return repr(data), None


def brr_repr(dump, text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        name = f.name
    try:
        p = subprocess.run([dump, name], capture_output=True, text=True)
    finally:
        os.unlink(name)
    if p.returncode == 1:
        return None, p.stderr.strip()
    if p.returncode != 0:
        sys.exit(f"yaml_dump crashed ({p.returncode}): {p.stderr}")
    return p.stdout.rstrip("\n"), None


def generated_scalars():
    alphabet = "01789_.:+-eEoxbInNa"
    seen = set()
    for n in range(1, 4):
        for combo in itertools.product(alphabet, repeat=n):
            s = "".join(combo)
            seen.add(s)
    extra = ["1:20", "190:20:30.15", "-1:30", "1_000", "0x_1F", "0b1_0", "017", "0o17", "1.0e+3",
             "1.0e3", "1e3", ".inf", "-.inf", "+.INF", ".NaN", "-.nan", "yes", "No", "ON", "oFF",
             "~", "null", "NULL", "Null", "nULL", "true", "False", "TRUE", "2.", "0.", ".5",
             "9223372036854775807", "-9223372036854775808", "12:34:56", "1:2:3:4", "1:5:59.5"]
    return sorted(seen) + extra


def main():
    dump = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    failures = 0
    checked = 0
    with open(os.path.join(here, "cases.yamlcorpus"), encoding="utf-8") as f:
        docs = f.read().split("\n#---\n")
    for i, doc in enumerate(docs):
        want, want_err = pyyaml_repr(doc)
        got, got_err = brr_repr(dump, doc)
        checked += 1
        if (want is None) != (got is None) or (want is not None and want != got):
            failures += 1
            print(f"case {i}:\n{doc}\n  PyYAML: {want or want_err}\n  brr:    {got or got_err}\n")
    # plain scalars, one list: the ones PyYAML refuses alone are checked one by one
    items, refused = [], []
    for s in generated_scalars():
        ok, _ = pyyaml_repr(f"- {s}\n")
        (items if ok is not None else refused).append(s)
    for s in refused:
        checked += 1
        got, _ = brr_repr(dump, f"- {s}\n")
        if got is not None:
            failures += 1
            print(f"scalar {s!r}: PyYAML refuses it, brr loads {got}")
    doc = "".join(f"- {s}\n" for s in items)
    got, got_err = brr_repr(dump, doc)
    if got is None:
        print(f"scalar list did not load: brr {got_err}")
        failures += 1
    else:
        wl = yaml.load(doc, Loader=yaml.Loader)
        gl = eval(got, {"inf": float("inf"), "nan": float("nan")})  # our own output
        for s, w, g in zip(items, wl, gl):
            checked += 1
            same = type(w) is type(g) and (w == g or (w != w and g != g))
            if not same:
                failures += 1
                print(f"scalar {s!r}: PyYAML {w!r} ({type(w).__name__}), brr {g!r} ({type(g).__name__})")
    print(f"{checked} comparisons ({len(docs)} documents, {len(items)} scalars, {len(refused)} refused by PyYAML), {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
