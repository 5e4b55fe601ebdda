#!/usr/bin/python3
"""Jinja2 oracle for brr's template engine tests.

Renders every case in tests/template/cases/*.json with real Jinja2 (Debian's python3-jinja2;
run with /usr/bin/python3), set up exactly as buildrunner sets it up, and stores what Jinja2
produced in tests/template/expected/*.json. brr's case runner (tests/unit/template_cases_test.c)
then requires byte-identical output, or an error on the same line with the same exit code.

    tools/jinja_oracle.py generate   # (re)write the expectations
    tools/jinja_oracle.py check      # fail when a stored expectation differs from Jinja2 now
    tools/jinja_oracle.py render TEMPLATE [VARS.json]
        # render one file to stdout, set up as for the cases (bench/template.sh uses it)
    tools/jinja_oracle.py import-examples DIR
        # (re)write tests/template/cases/examples.json from buildrunner's example configs and
        # the YAML code blocks of its docs under DIR (/work/shared/conformance)

A case is an object:
    name        unique within its file
    template    the template text
    vars        the variables (JSON; {"$float": 2.0} is a float even when integral)
    files       optional {path: text}: created in a fresh directory that becomes the cwd
    yaml_vars   optional variables read_yaml_file renders its file with (buildrunner: the
                env dict)
    plain       optional true: a plain jinja2.Template (no `do`, no buildrunner filters or
                globals), as read_yaml_file renders
    build_time  optional epoch seconds for strftime (default 1700000000); TZ is UTC

The buildrunner filters and globals below are this script's own Python implementations of
buildrunner 3.x (buildrunner/config/jinja_context.py, buildrunner/utils.py), with one
deliberate change: base64encode/base64decode are string base64, because buildrunner binds
them to stream functions that raise on any use.
"""

import base64
import copy
import datetime
import glob
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections import OrderedDict

import jinja2
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "template", "cases")
EXPECTED = os.path.join(ROOT, "tests", "template", "expected")
DEFAULT_BUILD_TIME = 1700000000


# ---- buildrunner's filters and globals, reimplemented -------------------------------------


def _sha1_of_files(paths, hasher):
    for path in paths:
        try:
            with open(path, "rb") as f:
                while True:
                    block = f.read(1 << 16)
                    if not block:
                        break
                    hasher.update(block)
        except Exception:  # buildrunner logs a warning and goes on
            pass


def br_checksum(*files):
    hasher = hashlib.sha1()
    _sha1_of_files([f for f in sorted(files) if os.path.isfile(f)], hasher)
    return hasher.hexdigest()


def br_hash_sha1(file_name_globs=None):
    hasher = hashlib.sha1()
    for pattern in file_name_globs or []:
        _sha1_of_files(sorted(glob.glob(pattern)), hasher)
    return hasher.hexdigest()


def br_re_sub(text, pattern, replace, count=0, flags=0):
    return re.sub(pattern, replace, text, count=count, flags=flags)


def br_re_split(text, pattern, maxsplit=0, flags=0):
    return re.split(pattern, text, maxsplit=maxsplit, flags=flags)


def br_b64encode(s):
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def br_b64decode(s):
    return base64.b64decode(s).decode("utf-8")


def br_raise(message):
    raise Exception(message)  # pylint: disable=broad-exception-raised


class _OrderedLoader(yaml.Loader):  # pylint: disable=too-many-ancestors
    pass


def _ordered_mapping(loader, node):
    loader.flatten_mapping(node)
    return OrderedDict(loader.construct_pairs(node))


_OrderedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _ordered_mapping)


def _load_config(text):
    """buildrunner's load_config: ordered maps, aliases expanded by a dump and reload"""

    class _NoAliases(yaml.Dumper):  # pylint: disable=too-many-ancestors
        def ignore_aliases(self, data):
            return True

    _NoAliases.add_representer(OrderedDict, lambda d, data: d.represent_dict(iter(data.items())))
    data = yaml.load(text, _OrderedLoader)
    return yaml.load(yaml.dump(data, default_flow_style=False, Dumper=_NoAliases), Loader=_OrderedLoader)


def make_read_yaml_file(env_dict):
    def read_yaml_file(filename):
        with open(filename, "r", encoding="utf-8") as f:
            rendered = jinja2.Template(f.read()).render(copy.deepcopy(env_dict))
        return _load_config(rendered)

    return read_yaml_file


def make_strftime(build_time):
    def strftime(_format="%Y-%m-%d", _ts=None):
        return datetime.datetime.fromtimestamp(build_time if _ts is None else _ts).strftime(_format)

    return strftime


# ---- rendering ------------------------------------------------------------------------------


def decode_value(v):
    """JSON -> Python, with the markers for types JSON cannot say"""
    if isinstance(v, dict):
        if set(v) == {"$float"}:
            return float(v["$float"])
        return {k: decode_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)  # as brr's case runner reads it; use {"$float": x} for a float
    return v


def template_line(exc):
    """the template line of a runtime error, from the traceback Jinja2 rewrites"""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_case(case):
    variables = decode_value(case.get("vars", {}))
    build_time = case.get("build_time", DEFAULT_BUILD_TIME)
    yaml_vars = decode_value(case.get("yaml_vars", {}))
    if case.get("plain"):
        make = jinja2.Template
        context = variables
    else:
        jenv = jinja2.Environment(loader=jinja2.FileSystemLoader("."), extensions=["jinja2.ext.do"])
        jenv.filters["hash_sha1"] = br_hash_sha1
        jenv.filters["base64encode"] = br_b64encode
        jenv.filters["base64decode"] = br_b64decode
        jenv.filters["re_sub"] = br_re_sub
        jenv.filters["re_split"] = br_re_split
        jenv.globals.update(checksum=br_checksum)
        make = jenv.from_string
        context = copy.deepcopy(variables)
        context.update(
            {
                "read_yaml_file": make_read_yaml_file(yaml_vars),
                "raise": br_raise,
                "strftime": make_strftime(build_time),
            }
        )
    try:
        template = make(case["template"])
    except jinja2.TemplateSyntaxError as e:
        return {"error": {"line": e.lineno, "exit": 78, "type": type(e).__name__, "message": e.message}}
    try:
        return {"output": template.render(context)}
    except Exception as e:  # pylint: disable=broad-except
        # buildrunner: raise() is a plain Exception (exit 1); brr reports template errors as 78
        code = 1 if type(e) is Exception else 78
        message = str(e)
        if isinstance(e, RecursionError):  # the rest of it depends on where Python trips
            message = "maximum recursion depth exceeded"
        return {"error": {"line": template_line(e), "exit": code, "type": type(e).__name__, "message": message}}


def run_case(case):
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="brr-oracle-") as tmp:
        for path, text in case.get("files", {}).items():
            full = os.path.join(tmp, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
        os.chdir(tmp)
        try:
            return render_case(case)
        finally:
            os.chdir(cwd)


def case_files():
    return sorted(f for f in os.listdir(CASES) if f.endswith(".json"))


def results_for(name):
    with open(os.path.join(CASES, name), encoding="utf-8") as f:
        cases = json.load(f)
    seen = set()
    out = {}
    for case in cases:
        if case["name"] in seen:
            raise SystemExit(f"{name}: duplicate case name {case['name']!r}")
        seen.add(case["name"])
        out[case["name"]] = run_case(case)
    return out


# The variables buildrunner would pass for an example (spec 1.4), with fixed values.
EXAMPLE_VARS = {
    "DOCKER_REGISTRY": "docker.io",
    "BUILDRUNNER_BUILD_NUMBER": "1700000000",
    "BUILDRUNNER_BUILD_ID": "main-1700000000",
    "BUILDRUNNER_BUILD_DOCKER_TAG": "main-abc1234-1700000000",
    "BUILDRUNNER_BUILD_TIME": 1700000000,
    "BUILDRUNNER_STEPS": [],
    "VCSINFO_BRANCH": "main",
    "VCSINFO_ID": "abc1234def5678",
    "VCSINFO_SHORT_ID": "abc1234",
    "VCSINFO_NUMBER": 42,
    "env": {"HOME": "/root", "PATH": "/usr/bin:/bin"},
}


def _rst_code_blocks(text):
    """the bodies of `.. code:: yaml` blocks that hold template syntax"""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"\s*\.\. code(-block)?:: *yaml\s*$", lines[i]):
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                body.append(lines[i])
                i += 1
            while body and not body[0].strip():
                body.pop(0)
            indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
            block = "\n".join(b[indent:] for b in body).rstrip() + "\n"
            if re.search(r"\{[{%#]", block):
                yield block
        else:
            i += 1


def import_examples(root):
    cases = []
    examples = os.path.join(root, "buildrunner-examples")
    for dirpath, _, names in sorted(os.walk(examples)):
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, examples)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            case = {"name": "examples/" + rel, "template": text, "vars": EXAMPLE_VARS}
            # checksum() paths in the examples are relative to buildrunner's checkout
            files = {"examples/" + rel: text} if "checksum(" in text else {}
            if files:
                case["files"] = files
            cases.append(case)
    docs = os.path.join(root, "buildrunner-docs")
    for name in sorted(os.listdir(docs)) if os.path.isdir(docs) else []:
        if not name.endswith(".rst"):
            continue
        with open(os.path.join(docs, name), encoding="utf-8") as f:
            for k, block in enumerate(_rst_code_blocks(f.read())):
                cases.append({"name": f"docs/{name}#{k + 1}", "template": block, "vars": EXAMPLE_VARS})
    with open(os.path.join(CASES, "examples.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(cases)} example cases written")
    return 0


def main(argv):
    os.environ["TZ"] = "UTC"
    time.tzset()
    if len(argv) == 3 and argv[1] == "import-examples":
        return import_examples(argv[2])
    if len(argv) in (3, 4) and argv[1] == "render":
        with open(argv[2], encoding="utf-8") as f:
            case = {"template": f.read()}
        if len(argv) == 4:
            with open(argv[3], encoding="utf-8") as f:
                case["vars"] = json.load(f)
        result = render_case(case)
        if "error" in result:
            print(f"{argv[2]}:{result['error']['line']}: {result['error']['message']}", file=sys.stderr)
            return result["error"]["exit"]
        sys.stdout.write(result["output"])
        return 0
    if len(argv) != 2 or argv[1] not in ("generate", "check"):
        print(__doc__)
        return 2
    os.makedirs(EXPECTED, exist_ok=True)
    bad = 0
    total = 0
    for name in case_files():
        results = results_for(name)
        total += len(results)
        path = os.path.join(EXPECTED, name)
        if argv[1] == "generate":
            with open(path, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1, ensure_ascii=False, sort_keys=True)
                f.write("\n")
            continue
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        except FileNotFoundError:
            stored = {}
        for case_name in sorted(set(results) | set(stored)):
            if results.get(case_name) != stored.get(case_name):
                bad += 1
                print(f"{name}: {case_name}: stored {stored.get(case_name)!r} != jinja2 {results.get(case_name)!r}")
    if argv[1] == "check":
        print(f"{total} cases, {bad} stale expectation(s) (jinja2 {jinja2.__version__})")
    else:
        print(f"{total} cases written (jinja2 {jinja2.__version__})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
