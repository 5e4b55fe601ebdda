/* Replays fuzz inputs through a libFuzzer harness without libFuzzer, so every harness is
 * built and run by ctest with the ordinary compiler (and under ASan+UBSan in that build):
 * a harness that no longer compiles, or an input that now crashes or trips an invariant,
 * fails CI. Arguments are files or directories (read one level deep, in name order).
 *   replay_<harness> FILE|DIR...   -> "replayed N inputs" on stdout, exit 0 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  int bad = ferror(f) || !buf;
  fclose(f);
  if (bad) {
    fprintf(stderr, "%s: cannot read\n", path);
    free(buf);
    return -1;
  }
  /* an exact-size copy, so ASan sees reads past the input's end */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
  long count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (replay_file(argv[i]) != 0) return 1;
      count++;
      continue;
    }
    struct dirent **ents;
    int n = scandir(argv[i], &ents, NULL, by_name);
    if (n < 0) {
      perror(argv[i]);
      return 1;
    }
    int rc = 0;
    for (int k = 0; k < n; k++) {
      char path[4096];
      int w = snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
      struct stat es;
      if (rc == 0 && w > 0 && (size_t)w < sizeof path && ents[k]->d_name[0] != '.' &&
          stat(path, &es) == 0 && S_ISREG(es.st_mode)) {
        if (replay_file(path) != 0) rc = 1;
        else count++;
      }
      free(ents[k]);
    }
    free(ents);
    if (rc) return 1;
  }
  if (count == 0) {
    fprintf(stderr, "no inputs replayed: the corpus is empty or missing\n");
    return 1;
  }
  printf("replayed %ld inputs\n", count);
  return 0;
}
