#!/usr/bin/python3
"""Run brr on every invalid config under tests/config/invalid and check what it reports.

A case is either a file NAME.yaml (copied into an empty build dir as buildrunner.yaml) or a
directory NAME/ (its files copied into the build dir). Expectations are comment lines at the
top of the yaml file, or in NAME/expect for a directory:

  # expect-exit: 78               exit code (default 78)
  # expect: buildrunner.yaml:12:7: steps.base.build.platforms: expected a list of strings
                                  a fragment stderr must contain (any number of these)
  # args: -c nope.yaml            extra arguments for brr
  # env: BRR_MASTER_CONFIG={dir}/master.yaml
                                  environment for brr ({dir} is the build dir)

brr runs with the build dir as its cwd and -d pointing at it, with no master or user global
config. Every case must also print nothing on stdout (no half-done work).
Usage: invalid_test.py BRR CASES_DIR
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def expectations(case_path):
    src = os.path.join(case_path, "expect") if os.path.isdir(case_path) else case_path
    exp = {"exit": 78, "frags": [], "args": [], "env": {}}
    with open(src, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("# "):
                if line.strip() and not line.startswith("#"):
                    break
                continue
            key, _, val = line[2:].rstrip("\n").partition(": ")
            if key == "expect-exit":
                exp["exit"] = int(val)
            elif key == "expect":
                exp["frags"].append(val)
            elif key == "args":
                exp["args"] += shlex.split(val)
            elif key == "env":
                k, _, v = val.partition("=")
                exp["env"][k] = v
    return exp


def run_case(brr, case_path, tmp):
    bdir = os.path.join(tmp, "build")
    os.mkdir(bdir)
    if os.path.isdir(case_path):
        for name in os.listdir(case_path):
            if name != "expect":
                shutil.copy(os.path.join(case_path, name), bdir)
    else:
        shutil.copy(case_path, os.path.join(bdir, "buildrunner.yaml"))
    exp = expectations(case_path)
    env = dict(os.environ, BRR_MASTER_CONFIG="", BRR_USER_CONFIG="", NO_COLOR="1")
    for k, v in exp["env"].items():
        env[k] = v.replace("{dir}", bdir)
    args = [a.replace("{dir}", bdir) for a in exp["args"]]
    p = subprocess.run([brr, "-d", bdir] + args, cwd=bdir, env=env, capture_output=True, text=True)
    problems = []
    if not exp["frags"]:
        problems.append("the case states no expected message")
    if p.returncode != exp["exit"]:
        problems.append(f"exit {p.returncode}, expected {exp['exit']}")
    for frag in exp["frags"]:
        if frag.replace("{dir}", bdir) not in p.stderr:
            problems.append(f"stderr lacks: {frag}")
    if p.stdout:
        problems.append(f"stdout not empty: {p.stdout[:200]!r}")
    return problems, p.stderr


def main():
    brr, cases_dir = sys.argv[1], sys.argv[2]
    names = sorted(os.listdir(cases_dir))
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            problems, stderr = run_case(brr, os.path.join(cases_dir, name), tmp)
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for pr in problems:
                print(f"    {pr}")
            print("    stderr was:\n" + "".join(f"      {l}\n" for l in stderr.splitlines()))
    print(f"{len(names)} invalid configs, {failed} failed")
    return 1 if failed or len(names) < 40 else 0


if __name__ == "__main__":
    sys.exit(main())
