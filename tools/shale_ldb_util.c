/* shale_ldb_util.c — shale-ldb's plumbing: printing keys and values, parsing them, loading
 * the MANIFEST without the engine, and a merged view of tables and WALs (ldb_merge) that the
 * read-only commands use instead of shale_open, which would take the LOCK and write files. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/batch.h"
#include "engine/dir_check.h"
#include "engine/filename.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "io/io.h"
#include "shale_ldb.h"
#include "util/error.h"
#include "util/ikey.h"
#include "wal/wal_reader.h"

void ldb_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("shale-ldb: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void ldb_print_bytes(FILE *out, const void *p, size_t n, int hex) {
  const uint8_t *s = p;
  if (hex) {
    fputs("0x", out);
    for (size_t i = 0; i < n; i++) fprintf(out, "%02X", s[i]);
    return;
  }
  if (n == 0) fputs("\"\"", out);
  for (size_t i = 0; i < n; i++) {
    if (s[i] > ' ' && s[i] <= '~' && s[i] != '\\' && s[i] != '"')
      fputc(s[i], out);
    else
      fprintf(out, "\\x%02X", s[i]);
  }
}

void ldb_print_json_bytes(FILE *out, const void *p, size_t n, int hex) {
  const uint8_t *s = p;
  fputc('"', out);
  if (hex) {
    fputs("0x", out);
    for (size_t i = 0; i < n; i++) fprintf(out, "%02X", s[i]);
  } else {
    for (size_t i = 0; i < n; i++) {
      if (s[i] > ' ' && s[i] <= '~' && s[i] != '\\' && s[i] != '"')
        fputc(s[i], out);
      else
        fprintf(out, "\\\\x%02X", s[i]); /* the text form's \xHH, JSON-escaped */
    }
  }
  fputc('"', out);
}

const char *ldb_kind_name(unsigned kind) {
  switch (kind) {
    case KIND_DEL:
      return "DEL";
    case KIND_PUT:
      return "PUT";
    case KIND_RANGE_DEL:
      return "RANGE_DEL";
    case KIND_SEEK:
      return "SEEK";
    default:
      return "UNKNOWN";
  }
}

void ldb_print_ikey(FILE *out, const uint8_t *ik, size_t n, int hex) {
  if (n < IKEY_TRAILER) {
    fputs("(short:", out);
    ldb_print_bytes(out, ik, n, 1);
    fputc(')', out);
    return;
  }
  uint64_t t = get_fixed64(ik + n - IKEY_TRAILER);
  ldb_print_bytes(out, ik, n - IKEY_TRAILER, hex);
  fprintf(out, "@%llu:%s", (unsigned long long)ikey_seq(t), ldb_kind_name(ikey_kind(t)));
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Text as ldb_print_bytes writes it: \xHH is the byte HH and "" the empty string, so
 * anything printed can be given back. A backslash not starting \xHH stays itself. */
static int parse_text(const char *s, buf *out) {
  if (!strcmp(s, "\"\"")) return 0;
  for (; *s; s++) {
    int hi, lo;
    if (s[0] == '\\' && s[1] == 'x' && (hi = hexval(s[2])) >= 0 && (lo = hexval(s[3])) >= 0) {
      buf_append_byte(out, (uint8_t)(hi << 4 | lo));
      s += 3;
    } else {
      buf_append_byte(out, (uint8_t)*s);
    }
  }
  return buf_ok(out) ? 0 : -1;
}

int ldb_parse_bytes(const char *s, int hex, buf *out, const char *what) {
  buf_clear(out);
  if (!hex) return parse_text(s, out);
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2;
  size_t n = strlen(s);
  if (n % 2) {
    ldb_err("%s '%s': odd number of hex digits", what, s);
    return -1;
  }
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0) {
      ldb_err("%s '%s': not hex (expected 0x followed by hex digits)", what, s);
      return -1;
    }
    buf_append_byte(out, (uint8_t)(hi << 4 | lo));
  }
  return buf_ok(out) ? 0 : -1;
}

int ldb_check_dir(const char *db) {
  struct stat st;
  if (!db || !*db) {
    ldb_err("--db=PATH is required for this command");
    return -1;
  }
  if (stat(db, &st) != 0) {
    ldb_err("cannot open DB directory %s: %s", db, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    ldb_err("%s is not a directory (--db names a DB directory)", db);
    return -1;
  }
  return 0;
}

/* Replays the MANIFEST at path into st (strict: any damage is an error). */
static int replay(ldb_state *st, const char *path, char *errmsg) {
  wal_reader *r;
  int rc = wal_reader_open(NULL, path, 0, &r, errmsg);
  if (rc) return rc;
  const uint8_t *rec;
  size_t len;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    version_edit e;
    edit_init(&e);
    char detail[ERRMSG_SIZE];
    version *nv = NULL;
    rc = edit_decode(&e, rec, len, detail);
    if (!rc && e.has_comparator) { /* its keys are in an order this tool does not know */
      err_set(errmsg, SHALE_NOTSUP,
              "%s records comparator \"%s\": shale-ldb reads bytewise DBs only (open it from "
              "a program that passes that comparator in shale_options.comparator)",
              path, e.comparator);
      edit_free(&e);
      rc = SHALE_NOTSUP;
      break;
    }
    if (!rc) rc = vset_apply(st->v, &e, NULL, &nv);
    if (rc) {
      err_set(errmsg, rc, "%s edit %d (ending at offset %llu): %s", path, st->edits,
              (unsigned long long)wal_reader_last_good_offset(r),
              rc == SHALE_NOMEM ? "out of memory" : detail);
      edit_free(&e);
      break;
    }
    version_unref(st->v);
    st->v = nv;
    if (e.has_log) st->log_number = e.log_number;
    if (e.has_next_file) st->next_file = e.next_file;
    if (e.has_last_seq) st->last_seq = e.last_seq;
    st->edits++;
    edit_free(&e);
  }
  const char *dropped = wal_reader_dropped(r);
  if (rc == 0 && dropped) fprintf(stderr, "shale-ldb: warning: %s\n", dropped);
  wal_reader_close(r);
  if (rc == 0 && st->edits == 0) rc = err_corrupt(errmsg, "%s holds no version edit", path);
  return rc < 0 ? rc : 0;
}

int ldb_check_shale_dir(const char *db) {
  char errmsg[ERRMSG_SIZE] = "";
  if (ldb_check_dir(db)) return -1;
  if (db_dir_check(NULL, db, errmsg) == SHALE_OK) return 0;
  ldb_err("%s", errmsg);
  return -1;
}

/* What to do when CURRENT or the MANIFEST it names cannot be used. */
#define REPAIR_HINT                                                                                \
  "; 'shale-ldb --db=DIR repair' rebuilds the MANIFEST from the tables (copy the directory aside " \
  "first)"

int ldb_load_state(const char *db, ldb_state *st) {
  memset(st, 0, sizeof *st);
  if (ldb_check_shale_dir(db)) return -1;
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  filename_join(path, db, "CURRENT");
  buf b;
  buf_init(&b);
  int rc = io_read_file(NULL, path, &b, errmsg);
  if (rc) {
    ldb_err("%s: %s (not a Shale DB, or its CURRENT was lost)" REPAIR_HINT, path,
            errno == ENOENT ? "no such file" : errmsg);
    buf_free(&b);
    return -1;
  }
  if (b.len < 2 || b.len > 200 || b.data[b.len - 1] != '\n' || memchr(b.data, '/', b.len) ||
      memchr(b.data, 0, b.len)) {
    ldb_err("%s: malformed (expected a MANIFEST name and a newline)" REPAIR_HINT, path);
    buf_free(&b);
    return -1;
  }
  char name[256];
  memcpy(name, b.data, b.len - 1);
  name[b.len - 1] = 0;
  buf_free(&b);
  filename_join(st->manifest, db, name);
  if (filename_parse(name, &st->manifest_number) != FT_MANIFEST) {
    ldb_err("%s names '%s', which is not a MANIFEST file name" REPAIR_HINT, path, name);
    return -1;
  }
  st->v = version_new();
  if (!st->v) return -1;
  rc = replay(st, st->manifest, errmsg);
  if (rc) {
    ldb_err("%s%s", errmsg, rc == SHALE_NOMEM || rc == SHALE_NOTSUP ? "" : REPAIR_HINT);
    ldb_free_state(st);
    return -1;
  }
  return 0;
}

void ldb_free_state(ldb_state *st) {
  if (st->v) version_unref(st->v);
  st->v = NULL;
}

int ldb_file_overlaps(const file_meta *f, const buf *from, const buf *to) {
  /* Largest user key < from: no overlap. Smallest user key >= to: none either. */
  if (from->len &&
      ukey_compare(f->largest.data, ldb_ukey_len(&f->largest), from->data, from->len) < 0)
    return 0;
  if (to->len && ukey_compare(f->smallest.data, ldb_ukey_len(&f->smallest), to->data, to->len) >= 0)
    return 0;
  return 1;
}

/* ---- merged view ---- */

typedef struct mem_ent {
  uint8_t *ikey; /* ikey then value, one allocation */
  size_t iklen, vlen;
  uint64_t log;
} mem_ent;

typedef struct msrc {
  sst_reader *r; /* a table; NULL for the WAL entries */
  sst_iter *it;
  char name[32];
} msrc;

struct ldb_merge {
  msrc *src;
  size_t nsrc;
  mem_ent *mem; /* WAL entries, sorted */
  size_t nmem, capmem, mpos;
  ldb_rdel *rdels;
  size_t nrdels, caprdels;
  int cur; /* source of the current entry; -1 for mem; -2 invalid */
  int status;
  char memname[32];
};

static int add_rdel(ldb_merge *m, const void *b, size_t bl, const void *e, size_t el, uint64_t seq,
                    const char *src) {
  if (m->nrdels == m->caprdels) {
    size_t cap = m->caprdels ? m->caprdels * 2 : 16;
    ldb_rdel *p = realloc(m->rdels, cap * sizeof *p);
    if (!p) return SHALE_NOMEM;
    m->rdels = p;
    m->caprdels = cap;
  }
  ldb_rdel *d = &m->rdels[m->nrdels];
  d->begin = malloc(bl + el + 1);
  if (!d->begin) return SHALE_NOMEM;
  memcpy(d->begin, b, bl);
  memcpy(d->begin + bl, e, el);
  d->end = d->begin + bl;
  d->blen = bl;
  d->elen = el;
  d->seq = seq;
  snprintf(d->src, sizeof d->src, "%s", src);
  m->nrdels++;
  return SHALE_OK;
}

typedef struct wal_ctx {
  ldb_merge *m;
  uint64_t log;
  char name[32];
} wal_ctx;

static int wal_visit(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                     const void *val, size_t vlen) {
  wal_ctx *c = arg;
  ldb_merge *m = c->m;
  if (kind == KIND_RANGE_DEL) return add_rdel(m, key, klen, val, vlen, seq, c->name);
  if (m->nmem == m->capmem) {
    size_t cap = m->capmem ? m->capmem * 2 : 256;
    mem_ent *p = realloc(m->mem, cap * sizeof *p);
    if (!p) return SHALE_NOMEM;
    m->mem = p;
    m->capmem = cap;
  }
  mem_ent *e = &m->mem[m->nmem];
  e->ikey = malloc(klen + IKEY_TRAILER + vlen + 1);
  if (!e->ikey) return SHALE_NOMEM;
  memcpy(e->ikey, key, klen);
  put_fixed64(e->ikey + klen, ikey_pack(seq, kind));
  if (kind == KIND_PUT) memcpy(e->ikey + klen + IKEY_TRAILER, val, vlen);
  e->iklen = klen + IKEY_TRAILER;
  e->vlen = kind == KIND_PUT ? vlen : 0;
  e->log = c->log;
  m->nmem++;
  return SHALE_OK;
}

/* Loads one WAL tolerantly: damage is reported on stderr and what precedes it is kept. */
static void load_wal(ldb_merge *m, const char *db, uint64_t number) {
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  filename_log(path, db, number);
  wal_reader *r;
  if (wal_reader_open(NULL, path, 1, &r, errmsg)) {
    ldb_err("warning: skipping WAL %s", errmsg);
    return;
  }
  wal_ctx c = {m, number, ""};
  snprintf(c.name, sizeof c.name, "%06llu.log", (unsigned long long)number);
  const uint8_t *rec;
  size_t len;
  int rc;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1) {
    if (len < BATCH_HEADER || batch_rep_iterate(rec, len, wal_visit, &c) == SHALE_CORRUPTION) {
      ldb_err("warning: %s: malformed batch before offset %llu; rest of the WAL skipped", path,
              (unsigned long long)wal_reader_last_good_offset(r));
      break;
    }
  }
  if (rc < 0) ldb_err("warning: %s", errmsg);
  /* The unwritten zeros a live DB's mapped WAL ends in are no damage: no warning for them. */
  if (wal_reader_dropped(r) && !wal_reader_tail_unwritten(r))
    ldb_err("warning: %s", wal_reader_dropped(r));
  wal_reader_close(r);
}

/* Deletes in one WAL: the engine holds them in a memtable, in no table yet. */
static int count_wal_del(void *arg, uint64_t seq, unsigned kind, const void *key, size_t klen,
                         const void *val, size_t vlen) {
  ldb_wal_dels *d = arg;
  if (kind == KIND_DEL) d->point++;
  if (kind == KIND_RANGE_DEL) d->range++;
  return SHALE_OK;
}

int ldb_wal_deletes(const char *db, uint64_t number, ldb_wal_dels *d) {
  char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
  *d = (ldb_wal_dels){0, 0};
  filename_log(path, db, number);
  wal_reader *r;
  if (wal_reader_open(NULL, path, 1, &r, errmsg)) {
    ldb_err("warning: WAL deletes not counted: %s", errmsg);
    return 1;
  }
  const uint8_t *rec;
  size_t len;
  int rc, status = 0;
  while ((rc = wal_reader_next(r, &rec, &len, errmsg)) == 1)
    if (len < BATCH_HEADER || batch_rep_iterate(rec, len, count_wal_del, d) == SHALE_CORRUPTION) {
      ldb_err("warning: %s: malformed batch: the rest of the WAL is not counted", path);
      status = 1;
      break;
    }
  if (rc < 0) ldb_err("warning: %s", errmsg);
  wal_reader_close(r);
  return status || rc < 0;
}

/* Keeps a long key from pushing a line past the width a terminal shows; the @SEQ:KIND
 * suffix stays whole, the user key is cut. */
void ldb_print_ikey_max(FILE *out, const uint8_t *ik, size_t n, int hex, size_t max) {
  char *text = NULL, suffix[48];
  size_t len = 0;
  FILE *m = n >= IKEY_TRAILER ? open_memstream(&text, &len) : NULL;
  if (!m) return ldb_print_ikey(out, ik, n, hex);
  ldb_print_bytes(m, ik, n - IKEY_TRAILER, hex);
  fclose(m);
  uint64_t t = get_fixed64(ik + n - IKEY_TRAILER);
  int sl = snprintf(suffix, sizeof suffix, "@%llu:%s", (unsigned long long)ikey_seq(t),
                    ldb_kind_name(ikey_kind(t)));
  if (len + (size_t)sl > max && max > (size_t)sl + 3)
    fprintf(out, "%.*s...%s", (int)(max - (size_t)sl - 3), text, suffix);
  else
    fprintf(out, "%s%s", text, suffix);
  free(text);
}

static int mem_cmp(const void *a, const void *b) {
  const mem_ent *x = a, *y = b;
  int c = ikey_compare(x->ikey, x->iklen, y->ikey, y->iklen);
  if (c) return c;
  return x->log < y->log ? 1 : x->log > y->log ? -1 : 0;
}

int ldb_merge_open(const char *db, const ldb_state *st, ldb_merge **out) {
  ldb_merge *m = calloc(1, sizeof *m);
  *out = NULL;
  if (!m) return -1;
  m->cur = -2;
  snprintf(m->memname, sizeof m->memname, "wal");
  size_t total = 0;
  for (int l = 0; l < NUM_LEVELS; l++) total += (size_t)st->v->nfiles[l];
  m->src = calloc(total ? total : 1, sizeof *m->src);
  if (!m->src) goto fail;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < st->v->nfiles[l]; i++) {
      file_meta *f = st->v->files[l][i];
      char path[FILENAME_MAX_LEN], errmsg[ERRMSG_SIZE] = "";
      filename_table(path, db, f->number);
      msrc *s = &m->src[m->nsrc];
      snprintf(s->name, sizeof s->name, "%06llu.sst", (unsigned long long)f->number);
      if (sst_reader_open(NULL, path, f->number, NULL, &s->r, errmsg) ||
          sst_iter_new(s->r, &s->it)) {
        ldb_err("%s", errmsg[0] ? errmsg : "out of memory");
        if (s->r) sst_reader_close(s->r);
        s->r = NULL;
        m->status = -1;
        continue;
      }
      const sst_range_del *d;
      size_t nd = sst_reader_range_dels(s->r, &d);
      for (size_t k = 0; k < nd; k++)
        if (add_rdel(m, d[k].begin, d[k].blen, d[k].end, d[k].elen, d[k].seq, s->name)) goto fail;
      m->nsrc++;
    }
  uint64_t *logs;
  size_t nlogs = filename_list(NULL, db, FT_LOG, st->log_number, &logs);
  for (size_t i = 0; i < nlogs; i++) load_wal(m, db, logs[i]);
  free(logs);
  if (m->nmem) qsort(m->mem, m->nmem, sizeof *m->mem, mem_cmp);
  *out = m;
  return 0;
fail:
  ldb_merge_close(m);
  ldb_err("out of memory");
  return -1;
}

void ldb_merge_close(ldb_merge *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nsrc; i++) {
    sst_iter_free(m->src[i].it);
    sst_reader_close(m->src[i].r);
  }
  free(m->src);
  for (size_t i = 0; i < m->nmem; i++) free(m->mem[i].ikey);
  free(m->mem);
  for (size_t i = 0; i < m->nrdels; i++) free(m->rdels[i].begin);
  free(m->rdels);
  free(m);
}

/* Picks the smallest current entry among the sources; the WAL wins ties (it is newer). */
static void pick(ldb_merge *m) {
  m->cur = -2;
  const uint8_t *best = NULL;
  size_t bestn = 0;
  if (m->mpos < m->nmem) {
    m->cur = -1;
    best = m->mem[m->mpos].ikey;
    bestn = m->mem[m->mpos].iklen;
  }
  for (size_t i = 0; i < m->nsrc; i++) {
    sst_iter *it = m->src[i].it;
    if (!sst_iter_valid(it)) {
      if (sst_iter_status(it) && m->status != -2) {
        ldb_err("%s", sst_iter_errmsg(it));
        m->status = -2;
      }
      continue;
    }
    size_t n;
    const uint8_t *k = sst_iter_key(it, &n);
    if (!best || ikey_compare(k, n, best, bestn) < 0) {
      best = k;
      bestn = n;
      m->cur = (int)i;
    }
  }
}

void ldb_merge_seek(ldb_merge *m, const void *ukey, size_t n) {
  buf k;
  buf_init(&k);
  if (ukey) {
    buf_append(&k, ukey, n);
    buf_append_fixed64(&k, ikey_pack(SEQ_MAX, KIND_SEEK));
  }
  m->mpos = 0;
  if (ukey && buf_ok(&k)) {
    size_t lo = 0, hi = m->nmem;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (ikey_compare(m->mem[mid].ikey, m->mem[mid].iklen, k.data, k.len) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    m->mpos = lo;
  }
  for (size_t i = 0; i < m->nsrc; i++) {
    if (ukey && buf_ok(&k))
      sst_iter_seek(m->src[i].it, k.data, k.len);
    else
      sst_iter_seek_first(m->src[i].it);
  }
  buf_free(&k);
  pick(m);
}

int ldb_merge_valid(ldb_merge *m) { return m->cur != -2; }

void ldb_merge_next(ldb_merge *m) {
  if (m->cur == -1)
    m->mpos++;
  else if (m->cur >= 0)
    sst_iter_next(m->src[m->cur].it);
  pick(m);
}

const uint8_t *ldb_merge_key(ldb_merge *m, size_t *n) {
  if (m->cur == -1) {
    *n = m->mem[m->mpos].iklen;
    return m->mem[m->mpos].ikey;
  }
  return sst_iter_key(m->src[m->cur].it, n);
}

const void *ldb_merge_value(ldb_merge *m, size_t *n) {
  if (m->cur == -1) {
    *n = m->mem[m->mpos].vlen;
    return m->mem[m->mpos].ikey + m->mem[m->mpos].iklen;
  }
  return sst_iter_value(m->src[m->cur].it, n);
}

const char *ldb_merge_source(ldb_merge *m) {
  if (m->cur == -1) {
    snprintf(m->memname, sizeof m->memname, "%06llu.log", (unsigned long long)m->mem[m->mpos].log);
    return m->memname;
  }
  return m->src[m->cur].name;
}

int ldb_merge_status(ldb_merge *m) { return m->status; }

size_t ldb_merge_range_dels(ldb_merge *m, const ldb_rdel **out) {
  *out = m->rdels;
  return m->nrdels;
}

int ldb_merge_covered(ldb_merge *m, const void *k, size_t n, uint64_t seq) {
  for (size_t i = 0; i < m->nrdels; i++) {
    const ldb_rdel *d = &m->rdels[i];
    if (d->seq > seq && ukey_compare(d->begin, d->blen, k, n) <= 0 &&
        ukey_compare(k, n, d->end, d->elen) < 0)
      return 1;
  }
  return 0;
}
