/* shale_ldb_inspect.c — read-only views of the DB's structure: lsm (the levels as text),
 * manifest_dump (every version edit), dump_wal (every log record), checkconsistency and
 * tombstones (what each file's deletes wait for). They read CURRENT, the MANIFEST, tables and
 * WALs directly, so they work on a DB another process holds and never change a file. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/batch.h"
#include "engine/filename.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "shale_ldb.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/ikey.h"
#include "wal/wal_reader.h"

#define BAR_WIDTH 30

static void print_age(const char *name, uint64_t us, uint64_t now) {
  if (!us)
    printf(" %s=-", name);
  else
    printf(" %s=%.1fs", name, now > us ? (double)(now - us) / 1e6 : 0.0);
}

/* [####xx....]: # for size relative to max, x for the tombstone share of it. */
static void print_bar(uint64_t size, uint64_t max, uint64_t tombs, uint64_t entries) {
  int fill = max ? (int)((size * BAR_WIDTH + max - 1) / max) : 0;
  if (fill > BAR_WIDTH) fill = BAR_WIDTH;
  int x = entries ? (int)((double)fill * (double)tombs / (double)entries + 0.5) : 0;
  if (tombs && x == 0 && fill) x = 1;
  if (x > fill) x = fill;
  fputs(" [", stdout);
  for (int i = 0; i < BAR_WIDTH; i++) putchar(i < fill - x ? '#' : i < fill ? 'x' : '.');
  putchar(']');
}

/* A printed key is cut to this many characters, so a file's key line stays within ~100. */
#define KEY_WIDTH 38

static void print_level(const ldb_state *st, int l, uint64_t maxl, uint64_t now) {
  uint64_t e = 0, pt = 0, rt = 0, oldest = 0;
  for (int i = 0; i < st->v->nfiles[l]; i++) {
    const file_meta *f = st->v->files[l][i];
    e += f->entries, pt += f->point_tombstones, rt += f->range_tombstones;
    if (f->oldest_tomb_us && (!oldest || f->oldest_tomb_us < oldest)) oldest = f->oldest_tomb_us;
  }
  uint64_t lb = version_level_bytes(st->v, l);
  printf("level=%d files=%d bytes=%" PRIu64 " entries=%" PRIu64 " point_tombstones=%" PRIu64
         " range_tombstones=%" PRIu64 "\n       ",
         l, st->v->nfiles[l], lb, e, pt, rt);
  print_age("oldest_tomb_age", oldest, now);
  print_bar(lb, maxl, pt + rt, e + rt);
  putchar('\n');
}

/* Three lines: counts; age, sequences and bar; the key range. */
static void print_file(const file_meta *f, int l, uint64_t maxf, uint64_t now, int hex) {
  printf("  L%d %06" PRIu64 ".sst size=%" PRIu64 " entries=%" PRIu64 " point_tombstones=%" PRIu64
         " range_tombstones=%" PRIu64 "\n    ",
         l, f->number, f->file_size, f->entries, f->point_tombstones, f->range_tombstones);
  print_age("oldest_tomb_age", f->oldest_tomb_us, now);
  printf(" seq=%" PRIu64 "..%" PRIu64, f->min_seq, f->max_seq);
  print_bar(f->file_size, maxf, f->point_tombstones + f->range_tombstones,
            f->entries + f->range_tombstones);
  fputs("\n     smallest=", stdout);
  ldb_print_ikey_max(stdout, f->smallest.data, f->smallest.len, hex, KEY_WIDTH);
  fputs(" largest=", stdout);
  ldb_print_ikey_max(stdout, f->largest.data, f->largest.len, hex, KEY_WIDTH);
  putchar('\n');
}

/* The WALs at or above the MANIFEST's log number hold writes no table has yet: their
 * deletes are counted apart from the tables', which would otherwise under-report them. */
static int print_wals(const char *db, uint64_t log_number) {
  uint64_t *logs, point = 0, range = 0;
  size_t n = filename_list(NULL, db, FT_LOG, 0, &logs), live = 0;
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    char path[FILENAME_MAX_LEN];
    struct stat sb;
    filename_log(path, db, logs[i]);
    printf("wal %06" PRIu64 ".log size=%lld", logs[i],
           stat(path, &sb) ? -1LL : (long long)sb.st_size);
    if (logs[i] < log_number) {
      puts(" obsolete");
      continue;
    }
    ldb_wal_dels d;
    status |= ldb_wal_deletes(db, logs[i], &d);
    printf(" live point_deletes=%" PRIu64 " range_deletes=%" PRIu64 "\n", d.point, d.range);
    point += d.point, range += d.range, live++;
  }
  free(logs);
  printf("total wals=%zu point_deletes=%" PRIu64 " range_deletes=%" PRIu64
         " # in live WALs (memtables), in no table yet\n",
         live, point, range);
  return status;
}

int ldb_cmd_lsm(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  uint64_t now = clock_wall_us(), maxf = 0, maxl = 0;
  for (int l = 0; l < NUM_LEVELS; l++) {
    uint64_t lb = version_level_bytes(st.v, l);
    if (lb > maxl) maxl = lb;
    for (int i = 0; i < st.v->nfiles[l]; i++)
      if (st.v->files[l][i]->file_size > maxf) maxf = st.v->files[l][i]->file_size;
  }
  printf("# manifest=%s\n# log_number=%" PRIu64 " next_file=%" PRIu64 " last_seq=%" PRIu64
         " edits=%d\n",
         st.manifest, st.log_number, st.next_file, st.last_seq, st.edits);
  for (int l = 0; l < NUM_LEVELS; l++) {
    print_level(&st, l, maxl, now);
    for (int i = 0; i < st.v->nfiles[l]; i++)
      print_file(st.v->files[l][i], l, maxf, now, o->key_hex);
  }
  int status = print_wals(o->db, st.log_number);
  ldb_free_state(&st);
  return status;
}

/* ---- manifest_dump ---- */

static void print_file_fields(const edit_file *a, int hex) {
  const file_meta *f = a->f;
  printf("level=%d file=%06" PRIu64 " size=%" PRIu64 " entries=%" PRIu64
         " point_tombstones=%" PRIu64 " range_tombstones=%" PRIu64 " seq=%" PRIu64 "..%" PRIu64
         " tomb_seq=%" PRIu64 "..%" PRIu64 " oldest_tomb_us=%" PRIu64 " newest_tomb_us=%" PRIu64
         " raw_bytes=%" PRIu64 " smallest=",
         a->level, f->number, f->file_size, f->entries, f->point_tombstones, f->range_tombstones,
         f->min_seq, f->max_seq, f->min_tomb_seq, f->max_tomb_seq, f->oldest_tomb_us,
         f->newest_tomb_us, f->raw_bytes);
  ldb_print_ikey(stdout, f->smallest.data, f->smallest.len, hex);
  fputs(" largest=", stdout);
  ldb_print_ikey(stdout, f->largest.data, f->largest.len, hex);
}

static void print_json_ikey(const char *name, const buf *b, int hex) {
  size_t ul = ldb_ukey_len(b);
  uint64_t t = b->len >= IKEY_TRAILER ? get_fixed64(b->data + ul) : 0;
  printf(",\"%s\":", name);
  ldb_print_json_bytes(stdout, b->data, ul, hex);
  printf(",\"%s_seq\":%" PRIu64 ",\"%s_kind\":\"%s\"", name, ikey_seq(t), name,
         ldb_kind_name(ikey_kind(t)));
}

static void print_edit_json(const version_edit *e, int idx, uint64_t end, int hex) {
  printf("{\"edit\":%d,\"end_offset\":%" PRIu64, idx, end);
  if (e->has_format) printf(",\"format_version\":%u", e->format_version);
  if (e->has_log) printf(",\"log_number\":%" PRIu64, e->log_number);
  if (e->has_next_file) printf(",\"next_file\":%" PRIu64, e->next_file);
  if (e->has_last_seq) printf(",\"last_seq\":%" PRIu64, e->last_seq);
  fputs(",\"deleted\":[", stdout);
  for (int i = 0; i < e->ndeleted; i++)
    printf("%s{\"level\":%d,\"file\":%" PRIu64 "}", i ? "," : "", e->deleted[i].level,
           e->deleted[i].number);
  fputs("],\"added\":[", stdout);
  for (int i = 0; i < e->nadded; i++) {
    const file_meta *f = e->added[i].f;
    printf("%s{\"level\":%d,\"file\":%" PRIu64 ",\"size\":%" PRIu64 ",\"entries\":%" PRIu64
           ",\"point_tombstones\":%" PRIu64 ",\"range_tombstones\":%" PRIu64 ",\"min_seq\":%" PRIu64
           ",\"max_seq\":%" PRIu64 ",\"min_tomb_seq\":%" PRIu64 ",\"max_tomb_seq\":%" PRIu64
           ",\"oldest_tomb_us\":%" PRIu64 ",\"newest_tomb_us\":%" PRIu64 ",\"raw_bytes\":%" PRIu64,
           i ? "," : "", e->added[i].level, f->number, f->file_size, f->entries,
           f->point_tombstones, f->range_tombstones, f->min_seq, f->max_seq, f->min_tomb_seq,
           f->max_tomb_seq, f->oldest_tomb_us, f->newest_tomb_us, f->raw_bytes);
    print_json_ikey("smallest", &f->smallest, hex);
    print_json_ikey("largest", &f->largest, hex);
    putchar('}');
  }
  puts("]}");
}

static void print_edit_text(const version_edit *e, int idx, uint64_t end, int hex) {
  printf("edit=%d end_offset=%" PRIu64, idx, end);
  if (e->has_format) printf(" format_version=%u", e->format_version);
  if (e->has_comparator) printf(" comparator=%s", e->comparator);
  if (e->has_log) printf(" log_number=%" PRIu64, e->log_number);
  if (e->has_next_file) printf(" next_file=%" PRIu64, e->next_file);
  if (e->has_last_seq) printf(" last_seq=%" PRIu64, e->last_seq);
  printf(" added=%d deleted=%d\n", e->nadded, e->ndeleted);
  for (int i = 0; i < e->ndeleted; i++)
    printf("edit=%d delete level=%d file=%06" PRIu64 "\n", idx, e->deleted[i].level,
           e->deleted[i].number);
  for (int i = 0; i < e->nadded; i++) {
    printf("edit=%d add ", idx);
    print_file_fields(&e->added[i], hex);
    putchar('\n');
  }
}

int ldb_cmd_manifest_dump(ldb_opts *o) {
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  if (o->path) {
    snprintf(path, sizeof path, "%s", o->path);
  } else if (o->npos == 1) {
    snprintf(path, sizeof path, "%s", o->pos[0]);
  } else {
    ldb_state st;
    if (ldb_check_dir(o->db)) return 1;
    /* Find the MANIFEST through CURRENT without replaying it (it may be the damaged part). */
    char cur[FILENAME_MAX_LEN];
    filename_join(cur, o->db, "CURRENT");
    FILE *f = fopen(cur, "r");
    char name[256] = "";
    if (!f || !fgets(name, sizeof name, f) || !strchr(name, '\n') || strchr(name, '/')) {
      ldb_err("%s: %s (give the MANIFEST with --path=FILE)", cur, f ? "malformed" : "cannot open");
      if (f) fclose(f);
      return 1;
    }
    fclose(f);
    *strchr(name, '\n') = 0;
    filename_join(path, o->db, name);
    (void)st;
  }
  wal_reader *r;
  int rc = wal_reader_open(NULL, path, 0, &r, errmsg);
  if (rc) {
    ldb_err("%s", errmsg);
    return 1;
  }
  version *v = version_new();
  uint64_t log_number = 0, next_file = 0, last_seq = 0;
  const uint8_t *rec;
  size_t len;
  int idx = 0, status = 0;
  if (!o->json) printf("# manifest=%s\n", path);
  while (v && (rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    version_edit e;
    edit_init(&e);
    char detail[ERRMSG_SIZE];
    uint64_t end = wal_reader_last_good_offset(r);
    if (edit_decode(&e, rec, len, detail)) {
      ldb_err("%s edit %d (record ending at offset %" PRIu64 "): %s", path, idx, end, detail);
      status = 1;
    } else {
      if (o->json)
        print_edit_json(&e, idx, end, o->key_hex);
      else
        print_edit_text(&e, idx, end, o->key_hex);
      version *nv;
      if (vset_apply(v, &e, NULL, &nv) == SHALE_OK) {
        version_unref(v);
        v = nv;
      }
      if (e.has_log) log_number = e.log_number;
      if (e.has_next_file) next_file = e.next_file;
      if (e.has_last_seq) last_seq = e.last_seq;
    }
    edit_free(&e);
    idx++;
  }
  if (rc < 0) {
    ldb_err("%s", errmsg);
    status = 1;
  } else if (wal_reader_dropped(r)) {
    ldb_err("warning: %s", wal_reader_dropped(r));
  }
  wal_reader_close(r);
  if (!v) return 1;
  if (!o->json) {
    printf("# edits=%d log_number=%" PRIu64 " next_file=%" PRIu64 " last_seq=%" PRIu64 "\n", idx,
           log_number, next_file, last_seq);
    for (int l = 0; o->verbose && l < NUM_LEVELS; l++)
      for (int i = 0; i < v->nfiles[l]; i++) {
        edit_file a = {l, v->files[l][i]};
        fputs("current ", stdout);
        print_file_fields(&a, o->key_hex);
        putchar('\n');
      }
  }
  version_unref(v);
  return status;
}

/* ---- dump_wal ---- */

typedef struct wal_print {
  ldb_opts *o;
} wal_print;

static int print_wal_entry(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                           const void *val, size_t vlen) {
  ldb_opts *o = ((wal_print *)arg)->o;
  printf("%" PRIu64 " %s ", seq, ldb_kind_name(kind));
  ldb_print_bytes(stdout, key, klen, o->key_hex);
  if (kind == KIND_RANGE_DEL) {
    putchar(' ');
    ldb_print_bytes(stdout, val, vlen, o->key_hex);
  } else if (kind == KIND_PUT && o->print_value) {
    putchar(' ');
    ldb_print_bytes(stdout, val, vlen, o->value_hex);
  }
  putchar('\n');
  return 0;
}

int ldb_dump_wal_file(ldb_opts *o, const char *path) {
  char errmsg[ERRMSG_SIZE] = "";
  wal_reader *r;
  if (wal_reader_open(NULL, path, 0, &r, errmsg)) {
    ldb_err("%s", errmsg);
    return 1;
  }
  printf("# wal=%s log_number=%" PRIu64 "\n", path, wal_reader_log_number(r));
  const uint8_t *rec;
  size_t len;
  int rc, status = 0;
  wal_print wp = {o};
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    uint64_t end = wal_reader_last_good_offset(r);
    if (len < BATCH_HEADER) {
      ldb_err("%s: record ending at offset %" PRIu64 ": %zu bytes is not a batch", path, end, len);
      status = 1;
      continue;
    }
    printf("batch seq=%" PRIu64 " count=%u bytes=%zu end_offset=%" PRIu64 "\n", batch_rep_seq(rec),
           batch_rep_count(rec), len, end);
    if (batch_rep_iterate(rec, len, print_wal_entry, &wp) == SHALE_CORRUPTION) {
      ldb_err("%s: record ending at offset %" PRIu64 ": malformed batch", path, end);
      status = 1;
    }
  }
  if (rc < 0) {
    ldb_err("%s", errmsg);
    status = 1;
  } else if (wal_reader_dropped(r) && !wal_reader_tail_unwritten(r)) {
    ldb_err("warning: %s", wal_reader_dropped(r));
  }
  wal_reader_close(r);
  return status;
}

int ldb_cmd_dump_wal(ldb_opts *o) {
  if (o->path) return ldb_dump_wal_file(o, o->path);
  if (o->npos) {
    int status = 0;
    for (int i = 0; i < o->npos; i++) status |= ldb_dump_wal_file(o, o->pos[i]);
    return status;
  }
  if (ldb_check_dir(o->db)) return 1;
  uint64_t *logs;
  size_t n = filename_list(NULL, o->db, FT_LOG, 0, &logs);
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    char path[FILENAME_MAX_LEN];
    filename_log(path, o->db, logs[i]);
    status |= ldb_dump_wal_file(o, path);
  }
  free(logs);
  return status;
}

/* ---- checkconsistency ---- */

/* Reads every entry of the table (so every data block is read and checksum-verified) and
 * cross-checks the counts with its metadata. Returns 0 or prints the problem and returns 1. */
static int verify_table(const char *path, const file_meta *f, const char *tag) {
  char errmsg[ERRMSG_SIZE] = "";
  sst_reader *r;
  if (sst_reader_open(NULL, path, f ? f->number : 0, NULL, &r, errmsg)) {
    printf("ERROR %s: %s\n", tag, errmsg);
    return 1;
  }
  sst_iter *it;
  if (sst_iter_new(r, &it)) {
    sst_reader_close(r);
    printf("ERROR %s: out of memory\n", tag);
    return 1;
  }
  uint64_t n = 0, dels = 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl;
    const uint8_t *k = sst_iter_key(it, &kl);
    n++;
    if (ikey_kind(get_fixed64(k + kl - IKEY_TRAILER)) == KIND_DEL) dels++;
  }
  int bad = 0;
  if (sst_iter_status(it)) {
    printf("ERROR %s: %s\n", tag, sst_iter_errmsg(it));
    bad = 1;
  } else {
    const sst_meta *m = sst_reader_meta(r);
    if (n != m->entries || dels != m->point_tombstones) {
      printf("ERROR %s: read %" PRIu64 " entries (%" PRIu64 " tombstones), properties say %" PRIu64
             " (%" PRIu64 ")\n",
             tag, n, dels, m->entries, m->point_tombstones);
      bad = 1;
    } else if (f && (f->entries != m->entries || f->point_tombstones != m->point_tombstones ||
                     f->max_seq != m->max_seq)) {
      printf("ERROR %s: MANIFEST metadata (entries %" PRIu64 ", max_seq %" PRIu64
             ") differs from the table (entries %" PRIu64 ", max_seq %" PRIu64 ")\n",
             tag, f->entries, f->max_seq, m->entries, m->max_seq);
      bad = 1;
    }
  }
  if (!bad) printf("OK %s entries=%" PRIu64 "\n", tag, n);
  sst_iter_free(it);
  sst_reader_close(r);
  return bad;
}

int ldb_cmd_checkconsistency(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  int problems = 0, files = 0;
  char path[FILENAME_MAX_LEN], tag[64];
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++) {
      const file_meta *f = st.v->files[l][i];
      files++;
      snprintf(tag, sizeof tag, "L%d %06" PRIu64 ".sst", l, f->number);
      filename_table(path, o->db, f->number);
      for (int l2 = 0; l2 <= l; l2++)
        for (int j = 0; j < (l2 == l ? i : st.v->nfiles[l2]); j++)
          if (st.v->files[l2][j]->number == f->number) {
            printf("ERROR %s: also listed at L%d\n", tag, l2);
            problems++;
          }
      struct stat sb;
      if (stat(path, &sb)) {
        printf("ERROR %s: missing: %s\n", tag, path);
        problems++;
        continue;
      }
      if ((uint64_t)sb.st_size != f->file_size) {
        printf("ERROR %s: size %lld, MANIFEST says %" PRIu64 "\n", tag, (long long)sb.st_size,
               f->file_size);
        problems++;
        continue;
      }
      problems += verify_table(path, f, tag);
    }
  uint64_t *nums;
  size_t n = filename_list(NULL, o->db, FT_TABLE, 0, &nums);
  for (size_t k = 0; k < n; k++) {
    int live = 0;
    for (int l = 0; l < NUM_LEVELS && !live; l++)
      for (int i = 0; i < st.v->nfiles[l]; i++)
        if (st.v->files[l][i]->number == nums[k]) live = 1;
    /* A crash between writing a table and recording it leaves one; the DB never needs it. */
    if (!live)
      printf("NOTE orphan %06" PRIu64
             ".sst: in the directory but not in the MANIFEST (left by a crash, or being written "
             "by a process that has the DB open; the next open removes it)\n",
             nums[k]);
  }
  free(nums);
  n = filename_list(NULL, o->db, FT_LOG, st.log_number, &nums);
  for (size_t k = 0; k < n; k++) {
    char errmsg[ERRMSG_SIZE] = "";
    wal_reader *r;
    filename_log(path, o->db, nums[k]);
    int rc = wal_reader_open(NULL, path, 0, &r, errmsg);
    const uint8_t *rec;
    size_t len;
    uint64_t recs = 0;
    if (!rc)
      while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) recs++;
    if (rc < 0) {
      printf("ERROR wal %06" PRIu64 ".log: %s\n", nums[k], errmsg);
      problems++;
    } else {
      printf("OK wal %06" PRIu64 ".log records=%" PRIu64 "\n", nums[k], recs);
    }
    wal_reader_close(r);
  }
  free(nums);
  printf("checkconsistency: %d table(s) in the MANIFEST, %d problem(s)\n", files, problems);
  ldb_free_state(&st);
  return problems ? 1 : 0;
}

/* ---- tombstones ---- */

typedef struct tomb_est {
  uint64_t shadowed, bytes;
} tomb_est;

static int same_range(const sst_range_del *a, const sst_range_del *b) {
  return a->blen == b->blen && a->elen == b->elen && !memcmp(a->begin, b->begin, a->blen) &&
         !memcmp(a->end, b->end, a->elen);
}

/* Entries of g that the point tombstones and range tombstones of r shadow. */
static int estimate_against(sst_reader *r, sst_reader *g, tomb_est *est) {
  char errmsg[ERRMSG_SIZE];
  sst_iter *it, *git;
  if (sst_iter_new(r, &it)) return -1;
  if (sst_iter_new(g, &git)) {
    sst_iter_free(it);
    return -1;
  }
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl;
    const uint8_t *k = sst_iter_key(it, &kl);
    uint64_t t = get_fixed64(k + kl - IKEY_TRAILER);
    if (ikey_kind(t) != KIND_DEL || ikey_seq(t) == 0) continue;
    void *val = NULL;
    size_t vl = 0;
    if (sst_reader_get(g, k, kl - IKEY_TRAILER, ikey_seq(t) - 1, NULL, &val, &vl, NULL, errmsg) ==
        1) {
      est->shadowed++;
      est->bytes += kl + vl;
    }
    free(val);
  }
  const sst_range_del *d;
  size_t nd = sst_reader_range_dels(r, &d);
  buf seek;
  buf_init(&seek);
  for (size_t i = 0; i < nd; i++) {
    /* A fragment kept at several seqs repeats its range, newest first: count each entry once. */
    if (i && same_range(&d[i - 1], &d[i])) continue;
    buf_clear(&seek);
    buf_append(&seek, d[i].begin, d[i].blen);
    buf_append_fixed64(&seek, ikey_pack(SEQ_MAX, KIND_SEEK));
    if (!buf_ok(&seek)) break;
    for (sst_iter_seek(git, seek.data, seek.len); sst_iter_valid(git); sst_iter_next(git)) {
      size_t kl, vl;
      const uint8_t *k = sst_iter_key(git, &kl);
      if (ukey_compare(k, kl - IKEY_TRAILER, d[i].end, d[i].elen) >= 0) break;
      if (ikey_seq(get_fixed64(k + kl - IKEY_TRAILER)) >= d[i].seq) continue;
      sst_iter_value(git, &vl);
      est->shadowed++;
      est->bytes += kl + vl;
    }
  }
  buf_free(&seek);
  int rc = sst_iter_status(it) ? sst_iter_status(it) : sst_iter_status(git);
  sst_iter_free(it);
  sst_iter_free(git);
  return rc;
}

/* Bytes of r's own tombstones (keys, values, range ends): freed once they reach the bottom. */
static uint64_t own_tomb_bytes(sst_reader *r) {
  uint64_t bytes = 0;
  sst_iter *it;
  if (sst_iter_new(r, &it)) return 0;
  for (sst_iter_seek_first(it); sst_iter_valid(it); sst_iter_next(it)) {
    size_t kl, vl;
    const uint8_t *k = sst_iter_key(it, &kl);
    sst_iter_value(it, &vl);
    if (ikey_kind(get_fixed64(k + kl - IKEY_TRAILER)) == KIND_DEL) bytes += kl + vl;
  }
  sst_iter_free(it);
  const sst_range_del *d;
  size_t nd = sst_reader_range_dels(r, &d);
  for (size_t i = 0; i < nd; i++) bytes += d[i].blen + d[i].elen + 16;
  return bytes;
}

static int user_ranges_overlap(const file_meta *a, const file_meta *b) {
  return ukey_compare(a->smallest.data, ldb_ukey_len(&a->smallest), b->largest.data,
                      ldb_ukey_len(&b->largest)) <= 0 &&
         ukey_compare(b->smallest.data, ldb_ukey_len(&b->smallest), a->largest.data,
                      ldb_ukey_len(&a->largest)) <= 0;
}

static sst_reader *open_live(const char *db, const file_meta *f) {
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  sst_reader *r;
  filename_table(path, db, f->number);
  if (sst_reader_open(NULL, path, f->number, NULL, &r, errmsg)) {
    ldb_err("%s", errmsg);
    return NULL;
  }
  return r;
}

/* Line width the pinned_by list wraps at. */
#define LINE_WIDTH 100

/* Appends g's name to the pinned_by list, wrapping to a new indented line when full. */
static void add_pin(buf *pins, size_t *col, int level, uint64_t number) {
  char name[48];
  int n =
      snprintf(name, sizeof name, "%sL%d:%06" PRIu64 ".sst", pins->len ? "," : "", level, number);
  if (pins->len && *col + (size_t)n > LINE_WIDTH) {
    buf_append(pins, ",\n      ", 8);
    *col = 6;
    memmove(name, name + 1, (size_t)n--); /* the comma went before the break */
  }
  buf_append(pins, name, (size_t)n);
  *col += (size_t)n;
}

/* Entries older than f's tombstones that they shadow: deeper levels, and in L0 the older
 * files (listed after f). Fills pins with the files that keep the tombstones alive. */
static int shadow_below(const char *db, const ldb_state *st, int l, int i, sst_reader *r,
                        tomb_est *est, buf *pins) {
  const file_meta *f = st->v->files[l][i];
  size_t col = sizeof "   pinned_by=" + 40;
  int status = 0;
  for (int l2 = l; l2 < NUM_LEVELS; l2++)
    for (int j = l2 == l ? (l == 0 ? i + 1 : st->v->nfiles[l2]) : 0; j < st->v->nfiles[l2]; j++) {
      const file_meta *g = st->v->files[l2][j];
      if (!user_ranges_overlap(f, g)) continue;
      add_pin(pins, &col, l2, g->number);
      sst_reader *gr = r ? open_live(db, g) : NULL;
      if (!gr || estimate_against(r, gr, est)) status = 1;
      sst_reader_close(gr);
    }
  return status;
}

typedef struct tomb_totals {
  uint64_t point, range, shadowed, bytes;
  int files;
} tomb_totals;

/* Two lines (more when many files pin it): counts and ages; what the tombstones shadow. */
static int print_tomb_file(const char *db, const ldb_state *st, int l, int i, tomb_totals *t) {
  const file_meta *f = st->v->files[l][i];
  printf("L%d %06" PRIu64 ".sst point=%" PRIu64 " range=%" PRIu64, l, f->number,
         f->point_tombstones, f->range_tombstones);
  print_age("oldest_age", f->oldest_tomb_us, clock_wall_us());
  printf(" tomb_seq=%" PRIu64 "..%" PRIu64 "\n", f->min_tomb_seq, f->max_tomb_seq);
  sst_reader *r = open_live(db, f);
  tomb_est est = {0, 0};
  buf pins;
  buf_init(&pins);
  int status = shadow_below(db, st, l, i, r, &est, &pins) || !r;
  uint64_t own = r ? own_tomb_bytes(r) : 0; /* compacted to the bottom, they go too */
  printf("   shadowed=%" PRIu64 " est_freed_bytes=%" PRIu64, est.shadowed, est.bytes + own);
  if (pins.len)
    printf(" pinned_by=%.*s\n", (int)pins.len, (const char *)pins.data);
  else
    puts(" pinned_by=none # would be dropped by compaction");
  buf_free(&pins);
  sst_reader_close(r);
  t->files++, t->point += f->point_tombstones, t->range += f->range_tombstones;
  t->shadowed += est.shadowed, t->bytes += est.bytes + own;
  return status;
}

int ldb_cmd_tombstones(ldb_opts *o) {
  ldb_state st;
  if (ldb_load_state(o->db, &st)) return 1;
  tomb_totals t = {0, 0, 0, 0, 0};
  int status = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st.v->nfiles[l]; i++)
      if (st.v->files[l][i]->point_tombstones || st.v->files[l][i]->range_tombstones)
        status |= print_tomb_file(o->db, &st, l, i, &t);
  printf("total files=%d point=%" PRIu64 " range=%" PRIu64 " shadowed=%" PRIu64
         " est_freed_bytes=%" PRIu64 "\n",
         t.files, t.point, t.range, t.shadowed, t.bytes);
  status |= print_wals(o->db, st.log_number);
  ldb_free_state(&st);
  return status;
}
