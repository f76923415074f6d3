/* shale_ldb_dump.c — the commands that read entries straight from the files: dump, idump,
 * approxsize, and get/scan for a DB another process holds. None of them writes anything. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shale_ldb.h"
#include "util/ikey.h"

/* Runs fn over the merged entries in [from, to); fn returns 1 to stop. */
typedef int (*entry_fn)(ldb_opts *o, ldb_merge *m, const uint8_t *ik, size_t n, void *arg);

static int walk(ldb_opts *o, ldb_merge *m, const buf *from, entry_fn fn, void *arg) {
  ldb_merge_seek(m, from && from->len ? from->data : NULL, from ? from->len : 0);
  for (; ldb_merge_valid(m); ldb_merge_next(m)) {
    size_t n;
    const uint8_t *k = ldb_merge_key(m, &n);
    if (o->to && ukey_compare(k, n - IKEY_TRAILER, o->to_key.data, o->to_key.len) >= 0) break;
    if (fn(o, m, k, n, arg)) break;
  }
  return ldb_merge_status(m) ? 1 : 0;
}

static int open_merge(ldb_opts *o, ldb_state *st, ldb_merge **m) {
  if (ldb_load_state(o->db, st)) return 1;
  if (ldb_merge_open(o->db, st, m)) {
    ldb_free_state(st);
    return 1;
  }
  return 0;
}

typedef struct dump_ctx {
  buf prev; /* user key of the previous entry */
  int have_prev;
  long long printed;
  int scan_format; /* KEY ==> VALUE, live keys only */
} dump_ctx;

static int dump_entry(ldb_opts *o, ldb_merge *m, const uint8_t *k, size_t n, void *arg) {
  dump_ctx *c = arg;
  size_t ul = n - IKEY_TRAILER;
  uint64_t t = get_fixed64(k + ul);
  int newest = !(c->have_prev && !ukey_compare(c->prev.data, c->prev.len, k, ul));
  buf_clear(&c->prev);
  buf_append(&c->prev, k, ul);
  c->have_prev = 1;
  const char *state = "live";
  if (!newest)
    state = "shadowed";
  else if (ikey_kind(t) == KIND_DEL)
    state = "deleted";
  else if (ldb_merge_covered(m, k, ul, ikey_seq(t)))
    state = "covered";
  if (strcmp(state, "live") && (c->scan_format || !o->include_deleted)) return 0;
  if (o->max_keys >= 0 && c->printed >= o->max_keys) return 1;
  size_t vl;
  const void *v = ldb_merge_value(m, &vl);
  ldb_print_bytes(stdout, k, ul, o->key_hex);
  if (c->scan_format) {
    fputs(" ==> ", stdout);
  } else {
    printf(" %" PRIu64 " %s %s ", ikey_seq(t), ldb_kind_name(ikey_kind(t)), state);
  }
  ldb_print_bytes(stdout, v, ikey_kind(t) == KIND_PUT ? vl : 0, o->value_hex);
  putchar('\n');
  c->printed++;
  return 0;
}

/* Range tombstones intersecting [from, to), after the point entries. */
static void print_rdels(ldb_opts *o, ldb_merge *m, int with_source, const char *state) {
  const ldb_rdel *d;
  size_t nd = ldb_merge_range_dels(m, &d);
  for (size_t i = 0; i < nd; i++) {
    if (o->to && ukey_compare(d[i].begin, d[i].blen, o->to_key.data, o->to_key.len) >= 0) continue;
    if (o->from && ukey_compare(d[i].end, d[i].elen, o->from_key.data, o->from_key.len) <= 0)
      continue;
    if (with_source) printf("%s ", d[i].src);
    ldb_print_bytes(stdout, d[i].begin, d[i].blen, o->key_hex);
    printf(" %" PRIu64 " RANGE_DEL ", d[i].seq);
    if (state) printf("%s ", state);
    ldb_print_bytes(stdout, d[i].end, d[i].elen, o->key_hex);
    putchar('\n');
  }
}

static int run_dump(ldb_opts *o, int scan_format) {
  ldb_state st;
  ldb_merge *m;
  if (open_merge(o, &st, &m)) return 1;
  dump_ctx c = {.scan_format = scan_format};
  buf_init(&c.prev);
  int status = walk(o, m, o->from ? &o->from_key : NULL, dump_entry, &c);
  if (!scan_format && o->include_deleted) print_rdels(o, m, 0, "range");
  buf_free(&c.prev);
  ldb_merge_close(m);
  ldb_free_state(&st);
  return status;
}

int ldb_cmd_dump(ldb_opts *o) { return run_dump(o, 0); }
int ldb_direct_scan(ldb_opts *o) { return run_dump(o, 1); }

static int idump_entry(ldb_opts *o, ldb_merge *m, const uint8_t *k, size_t n, void *arg) {
  long long *printed = arg;
  if (o->max_keys >= 0 && *printed >= o->max_keys) return 1;
  uint64_t t = get_fixed64(k + n - IKEY_TRAILER);
  size_t vl;
  const void *v = ldb_merge_value(m, &vl);
  printf("%s ", ldb_merge_source(m));
  ldb_print_bytes(stdout, k, n - IKEY_TRAILER, o->key_hex);
  printf(" %" PRIu64 " %s ", ikey_seq(t), ldb_kind_name(ikey_kind(t)));
  ldb_print_bytes(stdout, v, vl, o->value_hex);
  putchar('\n');
  (*printed)++;
  return 0;
}

int ldb_cmd_idump(ldb_opts *o) {
  ldb_state st;
  ldb_merge *m;
  if (open_merge(o, &st, &m)) return 1;
  long long printed = 0;
  int status = walk(o, m, o->from ? &o->from_key : NULL, idump_entry, &printed);
  print_rdels(o, m, 1, NULL);
  ldb_merge_close(m);
  ldb_free_state(&st);
  return status;
}

typedef struct get_ctx {
  const buf *key;
  int found;
} get_ctx;

static int get_entry(ldb_opts *o, ldb_merge *m, const uint8_t *k, size_t n, void *arg) {
  get_ctx *c = arg;
  size_t ul = n - IKEY_TRAILER;
  if (ukey_compare(k, ul, c->key->data, c->key->len)) return 1;
  uint64_t t = get_fixed64(k + ul);
  if (ikey_kind(t) == KIND_PUT && !ldb_merge_covered(m, k, ul, ikey_seq(t))) {
    size_t vl;
    const void *v = ldb_merge_value(m, &vl);
    ldb_print_bytes(stdout, v, vl, o->value_hex);
    putchar('\n');
    c->found = 1;
  }
  return 1; /* the newest version decides */
}

int ldb_direct_get(ldb_opts *o, const buf *key) {
  ldb_state st;
  ldb_merge *m;
  if (open_merge(o, &st, &m)) return 1;
  get_ctx c = {key, 0};
  int saved_to = o->to != NULL;
  const char *to = o->to;
  o->to = NULL;
  int status = walk(o, m, key, get_entry, &c);
  o->to = saved_to ? to : NULL;
  ldb_merge_close(m);
  ldb_free_state(&st);
  if (!status && !c.found) {
    ldb_err("key not found");
    status = 1;
  }
  return status;
}

int ldb_cmd_approxsize(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  uint64_t total = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      const file_meta *f = st.v->files[l][i];
      if (!ldb_file_overlaps(f, &o->from_key, &o->to_key)) continue;
      total += f->file_size;
      if (o->verbose) printf("L%d %06" PRIu64 ".sst %" PRIu64 "\n", l, f->number, f->file_size);
    }
  printf("%" PRIu64 "\n", total);
  ldb_free_state(&st);
  return 0;
}
