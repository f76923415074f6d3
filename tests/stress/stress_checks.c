/* stress_checks.c — checks shale-stress runs after a clean reopen, besides verify_all: with
 * --dbs, that each DB holds exactly its own keys (a read view taken for the wrong DB, or kept
 * past its life by a thread's cache, would show a key of another DB or an old state); and
 * that shale.deletes-persisted-before does not claim a delete is physically gone while a
 * table still holds a value it deleted (issue 20: after a reopen it claimed the reopen's
 * time for deletes replayed from the WAL). */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stress.h"
#include "testutil.h"

/* One DB's full scan: its own keys as their slots say, nobody else's. */
static void check_db_scan(workload *w, int d, observed *seen) {
  expected *e = w->e;
  int rc = full_scan(w->dbs[d], e, w->o, seen, d & 1);
  if (rc) {
    violation(e, "db %d: full scan failed: %s", d, shale_strerror(rc));
    return;
  }
  for (uint32_t k = 0; k < (uint32_t)w->o->keys; k++) {
    if (k % (uint32_t)w->ndbs != (uint32_t)d) {
      if (seen[k].found)
        violation(e, "db %d shows k%08u, a key of db %u", d, k, k % (uint32_t)w->ndbs);
      continue;
    }
    uint64_t s = atomic_load(&e->slots[k]);
    if (!slot_allows(s, seen[k])) {
      char a[64];
      describe(a, sizeof a, s);
      violation(e, "db %d scan: k%08u %s gen %u; expected %s", d, k,
                seen[k].found ? "found" : "absent", seen[k].gen, a);
    }
  }
}

uint64_t verify_dbs(workload *w) {
  expected *e = w->e;
  uint64_t before = atomic_load(&e->h->counters[C_VIOLATIONS]);
  observed *seen = calloc((size_t)w->o->keys, sizeof *seen);
  for (int d = 0; d < w->ndbs; d++) check_db_scan(w, d, seen);
  for (uint32_t k = 0; k < (uint32_t)w->o->keys; k++) { /* and by get, round robin over DBs */
    observed g;
    uint64_t s = atomic_load(&e->slots[k]);
    if (read_key(w, NULL, k, &g) == 0 && !slot_allows(s, g)) {
      char a[64];
      describe(a, sizeof a, s);
      violation(e, "get k%08u from db %u: %s gen %u; expected %s", k, k % (uint32_t)w->ndbs,
                g.found ? "found" : "absent", g.gen, a);
    }
  }
  count(e, C_KEYS_VERIFIED, (uint64_t)w->o->keys);
  free(seen);
  return atomic_load(&e->h->counters[C_VIOLATIONS]) - before;
}

static uint64_t persisted_before(shale_db *db) {
  char *v = NULL;
  uint64_t us = 0;
  if (shale_property(db, "shale.deletes-persisted-before-us", &v) == SHALE_OK)
    us = strtoull(v, NULL, 10);
  shale_free(v);
  return us;
}

/* A value's head, "k<8 digits>:<8 hex>:", at p (n bytes left): its key, or -1. */
static long value_head_key(const char *p, size_t n, uint32_t *gen) {
  if (n < 19 || p[0] != 'k' || p[9] != ':' || p[18] != ':') return -1;
  char head[20];
  memcpy(head, p, 19);
  head[19] = 0;
  unsigned k, g;
  if (sscanf(head, "k%8u:%8x:", &k, &g) != 2) return -1;
  *gen = g;
  return (long)k;
}

/* Looks through one table file for values of keys marked in want; each key found is noted
 * in found[] (its generation + 1) and cleared from want. */
static void scan_table(workload *w, const char *path, uint8_t *want, uint32_t *found) {
  FILE *f = fopen(path, "rb");
  if (!f) return;
  struct stat st;
  char *data = NULL;
  size_t n = 0;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (data = malloc((size_t)st.st_size)))
    n = fread(data, 1, (size_t)st.st_size, f);
  fclose(f);
  for (size_t i = 0; i + 19 <= n; i++) {
    uint32_t gen;
    long k = data[i] == 'k' ? value_head_key(data + i, n - i, &gen) : -1;
    if (k < 0 || k >= w->o->keys || !want[k]) continue;
    want[k] = 0;
    found[k] = gen + 1;
  }
  free(data);
}

/* Which keys of this DB must be gone from every table: absent, not pending, and last deleted
 * before pb. Returns how many. */
static uint64_t keys_to_check(workload *w, uint32_t mod, uint32_t rem, uint64_t pb, uint8_t *want) {
  uint64_t n = 0;
  for (uint32_t k = rem; k < (uint32_t)w->o->keys; k += mod) {
    uint64_t s = atomic_load(&w->e->slots[k]);
    if (slot_pending(s) || slot_exists(s) || !w->del_us[k] || w->del_us[k] >= pb) continue;
    want[k] = 1;
    n++;
  }
  return n;
}

/* Tables the DB's current version holds, or -1. */
static long live_tables(shale_db *db) {
  long n = 0;
  for (int l = 0; l < 7; l++) {
    char name[64], *v = NULL;
    snprintf(name, sizeof name, "shale.num-files-at-level%d", l);
    if (shale_property(db, name, &v)) return -1;
    n += atol(v);
    shale_free(v);
  }
  return n;
}

/* Scans every .sst file of dir; returns how many there were. */
static long scan_tables(workload *w, const char *dir, uint8_t *want, uint32_t *found) {
  DIR *d = opendir(dir);
  struct dirent *de;
  long n = 0;
  while (d && (de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 4, ".sst")) continue;
    char *path = tu_path(dir, de->d_name);
    scan_table(w, path, want, found);
    free(path);
    n++;
  }
  if (d) closedir(d);
  return n;
}

/* One look at the disk, valid only when the directory held exactly the live tables before
 * and after it: a compaction's inputs stay on disk for a moment after its output is
 * installed (and its output is written before), and those files are not the DB's. Returns 1
 * when valid (found[] filled), 0 to try again. */
static int look_once(workload *w, shale_db *db, const char *dir, uint8_t *want, uint32_t *found,
                     size_t n) {
  memset(found, 0, n * sizeof *found);
  long live = live_tables(db);
  uint8_t *left = malloc(n);
  memcpy(left, want, n);
  long files = scan_tables(w, dir, left, found);
  free(left);
  return live >= 0 && files == live && live_tables(db) == live;
}

uint64_t check_deletes_persisted(workload *w, shale_db *db, const char *dir, uint32_t mod,
                                 uint32_t rem) {
  if (!w->del_us || w->o->compression != SHALE_COMPRESSION_NONE) return 0;
  uint64_t before = atomic_load(&w->e->h->counters[C_VIOLATIONS]);
  size_t nk = (size_t)w->o->keys;
  uint8_t *want = calloc(nk, 1);
  uint32_t *found = calloc(nk, sizeof *found);
  uint64_t pb = persisted_before(db);
  uint64_t n = keys_to_check(w, mod, rem, pb, want);
  int valid = n == 0;
  for (int tries = 0; !valid && tries < 500; tries++) { /* until compactions rest */
    valid = look_once(w, db, dir, want, found, nk);
    if (!valid) usleep(10000);
  }
  if (!valid)
    fprintf(stderr, "shale-stress: %s never held just its live tables; not checked\n", dir);
  for (uint32_t k = 0; valid && k < nk; k++)
    if (found[k])
      violation(w->e,
                "k%08u: deleted %.3f s before deletes-persisted-before (%" PRIu64
                " us), yet a live table of %s still holds its value gen %u",
                k, (double)(pb - w->del_us[k]) / 1e6, pb, dir, found[k] - 1);
  free(want);
  free(found);
  if (valid) count(w->e, C_DELETES_CHECKED, n);
  return atomic_load(&w->e->h->counters[C_VIOLATIONS]) - before;
}
