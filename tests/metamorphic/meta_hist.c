/* meta_hist.c — what the model and the DB runs share: key and value bytes, the tokens of the
 * result lines (so both print a read alike), the history generator and its text format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "shale.h"
#include "testutil.h"

void sb_printf(sbuf *s, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->cap - s->n;
    int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? room : 0, fmt, ap);
    va_end(ap);
    if (k < 0) abort();
    if (s->p && (size_t)k < room) {
      s->n += (size_t)k;
      return;
    }
    size_t cap = s->cap ? s->cap * 2 : 4096;
    while (cap < s->n + (size_t)k + 1) cap *= 2;
    s->p = realloc(s->p, cap);
    if (!s->p) abort();
    s->cap = cap;
  }
}

void sb_free(sbuf *s) {
  free(s->p);
  s->p = NULL, s->n = s->cap = 0;
}

/* Suffixes 0x00 and 0xff 0xff on some keys put a key's prefix and bytes at both ends of the
 * alphabet into play while keeping key(i) < key(j) iff i < j. */
size_t meta_key(int i, char *out) {
  size_t n = (size_t)sprintf(out, "k%06d", i);
  if (i % 5 == 2) out[n++] = '\0';
  if (i % 5 == 4) out[n++] = '\xff', out[n++] = '\xff';
  return n;
}

size_t meta_point(int pt, char *out) {
  size_t n = meta_key(pt / 2, out);
  if (pt & 1) out[n++] = '~';
  return n;
}

void meta_value(uint32_t vseed, uint32_t vlen, char *out) {
  uint64_t x = vseed * 0x9e3779b97f4a7c15ull + 1;
  for (uint32_t j = 0; j < vlen; j++) out[j] = (char)(tu_rand(&x) >> 56);
}

uint64_t meta_hash(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

void meta_tok_key(sbuf *s, const void *k, size_t klen) {
  const unsigned char *b = k;
  for (size_t i = 0; i < klen; i++)
    if (b[i] >= 0x21 && b[i] < 0x7f)
      sb_printf(s, "%c", b[i]);
    else
      sb_printf(s, "\\x%02x", b[i]);
}

void meta_tok_val(sbuf *s, int rc, const void *v, size_t vlen) {
  if (rc == SHALE_OK)
    sb_printf(s, "=%zu:%016llx", vlen, (unsigned long long)meta_hash(v, vlen));
  else if (rc == SHALE_NOTFOUND)
    sb_printf(s, "-%s", vlen ? "(len!)" : "");
  else
    sb_printf(s, "!%d", rc);
}

/* The values the removing compaction filter takes away (filter 2): a length every read
 * can see, geto's length-only reads too, so every run can read them as deleted whether or
 * not a compaction has run over them yet. */
int meta_marked(size_t vlen) { return vlen % 32 == 13; }

static void tok_point(sbuf *s, int pt) {
  char b[META_KEYMAX];
  if (pt < 0) return sb_printf(s, "-");
  meta_tok_key(s, b, meta_point(pt, b));
}

/* One write as a WAL walk reports it: a put of key a, a delete of key a, a range delete
 * of points [a, b) (-1 an open end). */
void meta_tok_write(sbuf *s, int kind, int a, int b, const void *v, size_t vlen) {
  char k[META_KEYMAX];
  if (kind == M_RDEL) {
    sb_printf(s, " R");
    tok_point(s, a), sb_printf(s, ","), tok_point(s, b);
    return;
  }
  sb_printf(s, kind == M_PUT ? " P" : " D");
  meta_tok_key(s, k, meta_key(a, k));
  if (kind == M_PUT) meta_tok_val(s, SHALE_OK, v, vlen);
}

static void expect_wr(const meta_wr *w, char *val, sbuf *s) {
  if (w->kind == M_PUT) meta_value(w->vseed, w->vlen, val);
  meta_tok_write(s, w->kind, w->kind == M_RDEL ? w->a : w->key, w->b, val, w->vlen);
}

/* What a walk of the WAL from the end of op `from` to op `to` yields: one batch ("|") per
 * write call, in the order written. An ingest is a gap: its table is in no WAL. */
void meta_wal_expect(const meta_hist *h, int from, int to, sbuf *s) {
  char *val = malloc(1u << 17);
  if (!val) abort();
  for (int i = from + 1; i < to; i++) {
    const meta_op *o = &h->ops[i];
    if (o->kind == M_PUT || o->kind == M_DEL || o->kind == M_RDEL)
      sb_printf(s, " |"), expect_wr(&o->w, val, s);
    if (o->kind == M_BATCH) {
      sb_printf(s, " |");
      for (int j = 0; j < o->nw; j++) expect_wr(&o->ws[j], val, s);
    }
  }
  free(val);
}

void meta_hist_push(meta_hist *h, const meta_op *op) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 256;
    h->ops = realloc(h->ops, (size_t)h->cap * sizeof *h->ops);
    if (!h->ops) abort();
  }
  h->ops[h->n++] = *op;
}

void meta_hist_free(meta_hist *h) {
  free(h->ops);
  memset(h, 0, sizeof *h);
}

/* ---- generator ---- */

typedef struct gen {
  uint64_t r;
  meta_hist *h;
  int vbig; /* this history writes large values now and then */
} gen;

static uint32_t rnd(gen *g, uint32_t n) { return n ? (uint32_t)(tu_rand(&g->r) % n) : 0; }
static int chance(gen *g, int pct) { return (int)rnd(g, 100) < pct; }
static int rkey(gen *g) { return (int)rnd(g, (uint32_t)g->h->nkeys); }
static int rpoint(gen *g) { return (int)rnd(g, (uint32_t)g->h->nkeys * 2 + 1); }
static int rsnap(gen *g) { return chance(g, 50) ? -1 : (int)rnd(g, META_SNAPS); }

static uint32_t rvlen(gen *g) {
  if (chance(g, 5)) return 0;
  if (g->vbig && chance(g, 3)) return 8192 + rnd(g, 60000);
  if (chance(g, 15)) return 200 + rnd(g, 3000);
  return 1 + rnd(g, 60);
}

/* A range [a, b) with a < b; an open end now and then, both open rarely. */
static void rrange(gen *g, int *a, int *b, int open_pct) {
  int x = rpoint(g), span = 1 + (int)rnd(g, chance(g, 20) ? (uint32_t)g->h->nkeys : 40);
  *a = x, *b = x + span;
  if (chance(g, open_pct)) *a = -1;
  if (chance(g, open_pct)) *b = -1;
}

static meta_wr gen_wr(gen *g, int allow_rdel) {
  meta_wr w = {.kind = M_PUT, .key = rkey(g)};
  int c = (int)rnd(g, 10);
  if (c < 6) {
    w.vseed = (uint32_t)tu_rand(&g->r), w.vlen = rvlen(g);
  } else if (c < 9 || !allow_rdel) {
    w.kind = M_DEL;
  } else {
    w.kind = M_RDEL;
    rrange(g, &w.a, &w.b, 15);
  }
  return w;
}

static void push_wr(gen *g, meta_wr w) {
  meta_op op = {.kind = w.kind, .w = w, .sync = chance(g, 5)};
  meta_hist_push(g->h, &op);
}

/* A run of consecutive keys put or deleted, in order or shuffled: deleted runs are what
 * delete-run skipping and dead spans are made of. */
static void gen_run(gen *g, int del) {
  int len = 5 + (int)rnd(g, chance(g, 30) ? 300 : 40), start = rkey(g);
  if (start + len > g->h->nkeys) len = g->h->nkeys - start;
  int *ks = malloc(sizeof *ks * (size_t)(len > 0 ? len : 1));
  for (int i = 0; i < len; i++) ks[i] = start + i;
  if (chance(g, 40))
    for (int i = len - 1; i > 0; i--) {
      int j = (int)rnd(g, (uint32_t)i + 1), t = ks[i];
      ks[i] = ks[j], ks[j] = t;
    }
  for (int i = 0; i < len; i++) {
    meta_wr w = {.kind = del ? M_DEL : M_PUT, .key = ks[i]};
    if (!del) w.vseed = (uint32_t)tu_rand(&g->r), w.vlen = rvlen(g);
    push_wr(g, w);
  }
  free(ks);
}

static void gen_move(gen *g, meta_op *op) {
  op->slot = (int)rnd(g, META_ITERS);
  op->a = (int)rnd(g, 5);
  op->b = rpoint(g);
  int n = (int)rnd(g, chance(g, 20) ? META_MOVES + 1 : 6), dir = chance(g, 50);
  for (int i = 0; i < n; i++) {
    if (chance(g, 25)) dir = !dir;
    op->moves[i] = dir ? 'n' : 'p';
  }
}

static void gen_read(gen *g, meta_op *op, int c) {
  op->snap = rsnap(g);
  op->key = rkey(g);
  if (c == 0) {
    op->kind = M_GET;
  } else if (c == 1) {
    op->kind = M_GETO;
    op->cap = chance(g, 30) ? 0 : rnd(g, 100);
  } else {
    op->kind = M_MGET;
    op->n = 1 + (int)rnd(g, META_MGET);
    for (int i = 0; i < op->n; i++) op->keys[i] = i && chance(g, 15) ? op->keys[i - 1] : rkey(g);
  }
}

static void gen_iter(gen *g, meta_op *op) {
  op->kind = M_ITER;
  op->slot = (int)rnd(g, META_ITERS);
  op->snap = rsnap(g);
  op->a = op->b = -1;
  if (chance(g, 30)) op->a = rpoint(g);
  if (chance(g, 30)) op->b = (op->a < 0 ? 0 : op->a) + 1 + (int)rnd(g, 80);
}

static void gen_batch(gen *g, meta_op *op) {
  op->kind = M_BATCH;
  op->nw = 1 + (int)rnd(g, META_BATCH);
  op->sync = chance(g, 5);
  for (int i = 0; i < op->nw; i++) op->ws[i] = gen_wr(g, 1);
}

/* An external table: puts and deletes of increasing keys (at least one, as a table with no
 * entry is refused), then now and then a bounded range delete or two. */
static void gen_ingest(gen *g, meta_op *op) {
  op->kind = M_INGEST;
  op->sync = chance(g, 50); /* SHALE_INGEST_MOVE */
  int want = 1 + (int)rnd(g, META_BATCH - 2);
  for (int k = rkey(g); op->nw < want && k < g->h->nkeys; k += 1 + (int)rnd(g, 4)) {
    meta_wr w = gen_wr(g, 0);
    w.key = k;
    op->ws[op->nw++] = w;
  }
  for (int n = chance(g, 40) ? 1 + (int)rnd(g, 2) : 0; n > 0; n--) {
    meta_wr w = {.kind = M_RDEL};
    rrange(g, &w.a, &w.b, 0);
    op->ws[op->nw++] = w;
  }
}

static void gen_write(gen *g, int c) {
  if (c < 300) return push_wr(g, gen_wr(g, 0));
  meta_wr w = {.kind = M_RDEL};
  if (c < 330) { /* a range over one to three neighbouring points */
    w.a = 2 * rkey(g), w.b = w.a + 1 + (int)rnd(g, 3);
  } else {
    rrange(g, &w.a, &w.b, 15);
  }
  push_wr(g, w);
}

/* One op (or a run of them) by weight: writes ~50%, reads ~35%, the rest snapshots,
 * iterators, maintenance and restarts. */
static void gen_one(gen *g) {
  meta_op op = {.snap = -1, .a = -1, .b = -1};
  int c = (int)rnd(g, 1000);
  if (c < 345) return gen_write(g, c);
  if (c < 360) return gen_run(g, 1);
  if (c < 370) return gen_run(g, 0);
  if (c < 420)
    gen_batch(g, &op);
  else if (c < 450)
    op.kind = M_SNAP, op.slot = (int)rnd(g, META_SNAPS);
  else if (c < 470)
    op.kind = M_SNAPFREE, op.slot = (int)rnd(g, META_SNAPS);
  else if (c < 500)
    gen_iter(g, &op);
  else if (c < 515)
    op.kind = M_ITERFREE, op.slot = (int)rnd(g, META_ITERS);
  else if (c < 620)
    op.kind = M_MOVE, gen_move(g, &op);
  else if (c < 820)
    gen_read(g, &op, (int)rnd(g, 3));
  else if (c < 830)
    op.kind = M_WALMARK;
  else if (c < 845)
    op.kind = M_WALTAIL;
  else if (c < 852)
    op.kind = M_ROOPEN;
  else if (c < 862)
    op.kind = M_ROREAD, op.a = chance(g, 50);
  else if (c < 880)
    op.kind = M_SCAN, op.snap = rsnap(g), op.a = chance(g, 50);
  else if (c < 920)
    op.kind = M_FLUSH;
  else if (c < 940)
    op.kind = M_COMPACT, rrange(g, &op.a, &op.b, 30);
  else if (c < 955)
    op.kind = M_REOPEN;
  else if (c < 965)
    op.kind = M_CRASH;
  else if (c < 975)
    op.kind = M_CKPT, op.slot = (int)rnd(g, META_CKPTS), op.sync = chance(g, 30);
  else if (c < 983)
    op.kind = M_CKREAD, op.slot = (int)rnd(g, META_CKPTS);
  else if (c < 993)
    gen_ingest(g, &op);
  else
    gen_read(g, &op, 0);
  meta_hist_push(g->h, &op);
}

void meta_generate(meta_hist *h, uint64_t seed, int nops) {
  memset(h, 0, sizeof *h);
  gen g = {.r = seed * 0x2545f4914f6cdd1dull + 7, .h = h};
  h->seed = seed;
  h->nkeys = 8 + (int)rnd(&g, (uint32_t)(nops < 40 ? 40 : nops) * 2);
  g.vbig = chance(&g, 30);
  while (h->n < nops) gen_one(&g);
  h->n = nops; /* a run may overshoot */
}

/* ---- text format ---- */

static void write_wr(FILE *f, const meta_wr *w) {
  if (w->kind == M_PUT) fprintf(f, "put %d %u %u", w->key, w->vseed, w->vlen);
  if (w->kind == M_DEL) fprintf(f, "del %d", w->key);
  if (w->kind == M_RDEL) fprintf(f, "rdel %d %d", w->a, w->b);
}

static void write_op(FILE *f, const meta_op *o) {
  switch (o->kind) {
    case M_PUT:
    case M_DEL:
    case M_RDEL:
      write_wr(f, &o->w), fprintf(f, " %d\n", o->sync);
      break;
    case M_BATCH:
      fprintf(f, "batch %d %d\n", o->nw, o->sync);
      for (int i = 0; i < o->nw; i++) fputs("  ", f), write_wr(f, &o->ws[i]), fputc('\n', f);
      break;
    case M_SNAP:
      fprintf(f, "snap %d\n", o->slot);
      break;
    case M_SNAPFREE:
      fprintf(f, "snapfree %d\n", o->slot);
      break;
    case M_ITER:
      fprintf(f, "iter %d %d %d %d\n", o->slot, o->snap, o->a, o->b);
      break;
    case M_ITERFREE:
      fprintf(f, "iterfree %d\n", o->slot);
      break;
    case M_MOVE:
      fprintf(f, "move %d %d %d %s\n", o->slot, o->a, o->b, o->moves[0] ? o->moves : "-");
      break;
    case M_GET:
      fprintf(f, "get %d %d\n", o->key, o->snap);
      break;
    case M_GETO:
      fprintf(f, "geto %d %d %u\n", o->key, o->snap, o->cap);
      break;
    case M_MGET:
      fprintf(f, "mget %d %d", o->snap, o->n);
      for (int i = 0; i < o->n; i++) fprintf(f, " %d", o->keys[i]);
      fputc('\n', f);
      break;
    case M_SCAN:
      fprintf(f, "scan %d %d\n", o->snap, o->a);
      break;
    case M_FLUSH:
      fputs("flush\n", f);
      break;
    case M_COMPACT:
      fprintf(f, "compact %d %d\n", o->a, o->b);
      break;
    case M_REOPEN:
      fputs("reopen\n", f);
      break;
    case M_CRASH:
      fputs("crash\n", f);
      break;
    case M_CKPT:
      fprintf(f, "ckpt %d %d\n", o->slot, o->sync);
      break;
    case M_CKREAD:
      fprintf(f, "ckread %d\n", o->slot);
      break;
    case M_WALMARK:
      fputs("walmark\n", f);
      break;
    case M_WALTAIL:
      fputs("waltail\n", f);
      break;
    case M_ROOPEN:
      fputs("roopen\n", f);
      break;
    case M_ROREAD:
      fprintf(f, "roread %d\n", o->a);
      break;
    case M_INGEST:
      fprintf(f, "ingest %d %d\n", o->nw, o->sync);
      for (int i = 0; i < o->nw; i++) fputs("  ", f), write_wr(f, &o->ws[i]), fputc('\n', f);
      break;
  }
}

int meta_hist_write(const meta_hist *h, const char *path, const char *comment) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "# shale metamorphic history (tests/metamorphic/README in meta_main.c)\n");
  if (comment) fprintf(f, "# %s\n", comment);
  fprintf(f, "seed %llu\nkeys %d\n", (unsigned long long)h->seed, h->nkeys);
  if (h->known_bug) fprintf(f, "known_bug\n");
  for (int i = 0; i < h->n; i++) write_op(f, &h->ops[i]);
  return fclose(f);
}

static int parse_wr(const char *w, const char *rest, meta_wr *o, int *sync) {
  int n = 0;
  if (!strcmp(w, "put"))
    o->kind = M_PUT, n = sscanf(rest, "%d %u %u %d", &o->key, &o->vseed, &o->vlen, sync) >= 3;
  else if (!strcmp(w, "del"))
    o->kind = M_DEL, n = sscanf(rest, "%d %d", &o->key, sync) >= 1;
  else if (!strcmp(w, "rdel"))
    o->kind = M_RDEL, n = sscanf(rest, "%d %d %d", &o->a, &o->b, sync) >= 2;
  return n;
}

static int parse_other(const char *w, const char *r, meta_op *o) {
  static const char *const names[M_KINDS] = {
      [M_SNAP] = "snap",         [M_SNAPFREE] = "snapfree", [M_ITER] = "iter",
      [M_ITERFREE] = "iterfree", [M_MOVE] = "move",         [M_GET] = "get",
      [M_GETO] = "geto",         [M_MGET] = "mget",         [M_SCAN] = "scan",
      [M_FLUSH] = "flush",       [M_COMPACT] = "compact",   [M_REOPEN] = "reopen",
      [M_CRASH] = "crash",       [M_CKPT] = "ckpt",         [M_CKREAD] = "ckread",
      [M_WALMARK] = "walmark",   [M_WALTAIL] = "waltail",   [M_ROOPEN] = "roopen",
      [M_ROREAD] = "roread"};
  int k = 0;
  while (k < M_KINDS && !(names[k] && !strcmp(names[k], w))) k++;
  if (k == M_KINDS) return 0;
  o->kind = k;
  int p = 0;
  switch (k) {
    case M_SNAP:
    case M_SNAPFREE:
    case M_ITERFREE:
    case M_CKREAD:
      return sscanf(r, "%d", &o->slot) == 1;
    case M_CKPT:
      return sscanf(r, "%d %d", &o->slot, &o->sync) == 2;
    case M_ITER:
      return sscanf(r, "%d %d %d %d", &o->slot, &o->snap, &o->a, &o->b) == 4;
    case M_MOVE:
      if (sscanf(r, "%d %d %d %24s", &o->slot, &o->a, &o->b, o->moves) != 4) return 0;
      if (o->moves[0] == '-') o->moves[0] = 0;
      return 1;
    case M_GET:
      return sscanf(r, "%d %d", &o->key, &o->snap) == 2;
    case M_GETO:
      return sscanf(r, "%d %d %u", &o->key, &o->snap, &o->cap) == 3;
    case M_MGET:
      if (sscanf(r, "%d %d%n", &o->snap, &o->n, &p) != 2 || o->n < 0 || o->n > META_MGET) return 0;
      for (int i = 0; i < o->n; i++) {
        r += p;
        if (sscanf(r, "%d%n", &o->keys[i], &p) != 1) return 0;
      }
      return 1;
    case M_SCAN:
      return sscanf(r, "%d %d", &o->snap, &o->a) == 2;
    case M_ROREAD:
      return sscanf(r, "%d", &o->a) == 1;
    case M_COMPACT:
      return sscanf(r, "%d %d", &o->a, &o->b) == 2;
    default:
      return 1;
  }
}

int meta_hist_read(meta_hist *h, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  memset(h, 0, sizeof *h);
  char *line = NULL, w[16];
  size_t lcap = 0;
  int ok = 1, batch_left = 0;
  unsigned long long seed;
  while (ok && getline(&line, &lcap, f) > 0) {
    int p = 0;
    if (line[0] == '#' || sscanf(line, "%15s%n", w, &p) != 1) continue;
    const char *r = line + p;
    meta_op o = {.snap = -1, .a = -1, .b = -1};
    if (batch_left) {
      meta_op *b = &h->ops[h->n - 1];
      int dummy;
      ok = parse_wr(w, r, &b->ws[b->nw++], &dummy), batch_left--;
    } else if (!strcmp(w, "seed")) {
      ok = sscanf(r, "%llu", &seed) == 1, h->seed = seed;
    } else if (!strcmp(w, "known_bug")) {
      h->known_bug = 1;
    } else if (!strcmp(w, "keys")) {
      ok = sscanf(r, "%d", &h->nkeys) == 1;
    } else if (!strcmp(w, "batch") || !strcmp(w, "ingest")) {
      ok = sscanf(r, "%d %d", &batch_left, &o.sync) == 2 && batch_left > 0 &&
           batch_left <= META_BATCH;
      o.kind = w[0] == 'b' ? M_BATCH : M_INGEST, meta_hist_push(h, &o);
    } else if (parse_wr(w, r, &o.w, &o.sync)) {
      o.kind = o.w.kind, meta_hist_push(h, &o);
    } else {
      ok = parse_other(w, r, &o), meta_hist_push(h, &o);
    }
  }
  free(line);
  fclose(f);
  return ok && !batch_left && h->nkeys > 0 ? 0 : -1;
}
