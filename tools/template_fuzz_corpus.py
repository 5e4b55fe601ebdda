#!/usr/bin/python3
"""Write the templates of tests/template/cases/*.json as a libFuzzer seed corpus.

    tools/template_fuzz_corpus.py DIR
"""
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "template", "cases")


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    os.makedirs(argv[1], exist_ok=True)
    count = 0
    for name in sorted(os.listdir(CASES)):
        if name.endswith(".json"):
            with open(os.path.join(CASES, name), encoding="utf-8") as f:
                for case in json.load(f):
                    data = case["template"].encode("utf-8")
                    path = os.path.join(argv[1], hashlib.sha1(data).hexdigest())
                    with open(path, "wb") as out:
                        out.write(data)
                    count += 1
    print(f"{count} seeds in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
