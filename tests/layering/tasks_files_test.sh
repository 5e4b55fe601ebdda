#!/bin/bash
# The tasks layer's file side never talks to Docker (docs/architecture.md): brr/tasks_files.h,
# and every source that includes it instead of brr/tasks.h, include neither the engine, the
# registry, the process launcher, the scheduler, the graph nor libuv. That keeps the source
# tar, build contexts, artifacts and caches testable without an engine or a loop.
set -u
src=${1:?usage: tasks_files_test.sh <source dir>}
pat='#[[:space:]]*include[[:space:]]*(<uv\.h>|"brr/(engine|registry|spawn|sched|graph|tasks)\.h")'
# the pattern finds what it is meant to: the node kinds' header does include the engine
if ! grep -Eq "$pat" "$src/include/brr/tasks.h"; then
  echo "FAIL: the check no longer recognises the engine's includes (include/brr/tasks.h)" >&2
  exit 1
fi
files=("$src/include/brr/tasks_files.h")
while IFS= read -r f; do
  grep -q '#include "brr/tasks.h"' "$f" || files+=("$f")
done < <(grep -l '#include "brr/tasks_files.h"' "$src"/src/tasks/*.c "$src"/tests/unit/*.c)
if [ ${#files[@]} -lt 5 ]; then
  echo "FAIL: only ${#files[@]} files use brr/tasks_files.h; the check looks in the wrong place" >&2
  exit 1
fi
hits=$(grep -EnH "$pat" "${files[@]}")
if [ -n "$hits" ]; then
  echo "FAIL: the file side of the tasks layer must not include the engine, scheduler, graph or libuv:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "ok: brr/tasks_files.h and its ${#files[@]} users stay off the engine"
