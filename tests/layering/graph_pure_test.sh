#!/bin/bash
# src/graph is pure data (docs/architecture.md): it reads no file and asks nothing of the host.
# Dockerfiles come through brr_graph_opts.fs, the native platform through .native_platform.
# Fails when a file under src/graph calls the file system, the environment or uname.
set -u
src=${1:?usage: graph_pure_test.sh <source dir>}
pat='\b(fopen|freopen|fdopen|open|openat|creat|read|pread|fread|fgets|getline|stat|lstat|fstat|fstatat|access|faccessat|glob|opendir|readdir|scandir|nftw|realpath|getcwd|chdir|getenv|secure_getenv|uname|mmap|brr_read_file|brr_rm_rf|brr_mkdir_p|brr_write_file|brr_native_platform|brr_path_abs|brr_glob[a-z_]*)[[:space:]]*\('
hdr='#[[:space:]]*include[[:space:]]*<(sys/stat\.h|glob\.h|dirent\.h|fcntl\.h|unistd\.h|sys/utsname\.h|ftw\.h|sys/mman\.h)>'

# the patterns find what they are meant to: the host's own implementation does all of it
if ! grep -Eq "$pat" "$src/src/util/host_fs.c" || ! grep -Eq "$hdr" "$src/src/util/host_fs.c"; then
  echo "FAIL: the check no longer recognises file-system calls (src/util/host_fs.c)" >&2
  exit 1
fi
hits=$(grep -EnH "$pat|$hdr" "$src"/src/graph/*.c "$src"/src/graph/*.h "$src"/include/brr/graph.h)
if [ -n "$hits" ]; then
  echo "FAIL: src/graph must not touch the file system or the host; pass it through brr_graph_opts:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "ok: src/graph makes no file-system or host calls"
