/* brr — build identity (spec §6): the VCSINFO_* values buildrunner takes from git through
 * vcsinfo, the build id and the docker tag derived from it.
 *
 * Git is asked through the `git` command (posix_spawn, output read from a pipe), not by
 * reading .git: worktrees, packed refs, alternates and index formats are git's business.
 * A build dir that is not the root of a git work tree, or has no commit, is not an error
 * here (buildrunner exits 1): the identity gets placeholder values and `problem` says why. */
#ifndef BRR_VCS_H
#define BRR_VCS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct brr_vcs {
  bool found;        /* false: the placeholders below are in use */
  char *problem;     /* why there is no git identity (NULL when found) */
  char *root;        /* the work tree root (the build dir itself when found) */
  char *name;        /* VCSINFO_NAME: basename of origin's URL minus extension, or of the root */
  char *branch;      /* VCSINFO_BRANCH: active branch; detached: a branch containing HEAD, or DETACHED */
  int64_t number;    /* VCSINFO_NUMBER: git rev-list --count HEAD */
  char *id;          /* VCSINFO_ID: 40 hex digits */
  char short_id[8];  /* VCSINFO_SHORT_ID: first 7 hex digits */
  int64_t modified;  /* VCSINFO_MODIFIED: newest mtime of M/A files, else 0 */
  char *release;     /* VCSINFO_RELEASE: <number>.I<first 6 hex>.M<modified> */
} brr_vcs;

/* Fill `out` for the build dir `dir` (absolute). Always succeeds; see `found`. */
void brr_vcs_detect(const char *dir, brr_vcs *out);
void brr_vcs_free(brr_vcs *v);
/* BUILDRUNNER_BUILD_ID: "<branch>-<release>-<build number>" (heap). */
char *brr_vcs_build_id(const brr_vcs *v, const char *build_number);
/* The docker tag rule (buildrunner's sanitize_tag): lower-cased, every run of characters
 * outside [-_.\w] replaced by one '-'. Used for BUILDRUNNER_BUILD_DOCKER_TAG and push tags. */
char *brr_vcs_sanitize_tag(const char *tag);

#endif
