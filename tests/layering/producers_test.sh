#!/bin/bash
# Producers of events see the event types only (docs/architecture.md): sched.h, tasks.h and the
# sources of src/sched and src/tasks include brr/events.h, never the renderers' brr/ui.h.
set -u
src=${1:?usage: producers_test.sh <source dir>}
inc='#[[:space:]]*include[[:space:]]*"brr/ui\.h"'
# the pattern finds what it is meant to: the CLI does include the renderers
if ! grep -Eq "$inc" "$src/src/cli/app.c"; then
  echo "FAIL: the check no longer recognises an include of brr/ui.h (src/cli/app.c)" >&2
  exit 1
fi
hits=$(grep -EnH "$inc" "$src/include/brr/sched.h" "$src/include/brr/tasks.h" "$src/include/brr/events.h" \
         "$src"/src/sched/*.[ch] "$src"/src/tasks/*.[ch])
if [ -n "$hits" ]; then
  echo "FAIL: event producers must include brr/events.h, not the renderers' brr/ui.h:" >&2
  echo "$hits" >&2
  exit 1
fi
for h in sched.h tasks.h; do
  grep -q '#include "brr/events.h"' "$src/include/brr/$h" || { echo "FAIL: $h does not include brr/events.h" >&2; exit 1; }
done
echo "ok: sched and tasks include only the event types"
