/* meta_model.c — the in-memory model: per key its versions (sequence, value or tombstone),
 * and the range tombstones with their sequences. A read at sequence S sees, per key, the
 * newest version at or below S unless a range tombstone at or below S and newer covers it.
 * It prints the results of a history's reads exactly as meta_db.c prints the DB's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "shale.h"

typedef struct mver {
  uint64_t seq;
  int del;
  uint32_t vseed, vlen;
} mver;

typedef struct mkey {
  mver *v;
  int n, cap;
} mkey;

typedef struct mrdel {
  uint64_t seq;
  int a, b;
} mrdel;

/* What one key shows at a sequence. */
typedef struct mvis {
  uint64_t seq;
  int live;
  uint32_t vseed, vlen;
} mvis;

typedef struct miter {
  int live, pos; /* pos: a key index, -1 unpositioned or past an end */
  uint64_t seq;
  int lo, hi;
} miter;

typedef struct model {
  int nkeys;
  mkey *keys;
  mrdel *rd;
  int nrd, caprd;
  uint64_t seq;
  int snaplive[META_SNAPS];
  uint64_t snapseq[META_SNAPS];
  miter it[META_ITERS];
  int cklive[META_CKPTS]; /* checkpoints outlive restarts: they are directories of their own */
  uint64_t ckseq[META_CKPTS];
  int marklive, markop; /* the walmark op the next waltail walks from (lost in a crash) */
  int rolive;           /* a read_only handle is open (until a crash), made at roseq */
  uint64_t roseq;
  const meta_hist *h;
  mvis *vis; /* scratch: the view of one read */
  char *val; /* scratch: one value's bytes */
} model;

static void add_version_at(model *m, uint64_t seq, int k, int del, uint32_t vseed, uint32_t vlen) {
  mkey *e = &m->keys[k];
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 4;
    e->v = realloc(e->v, (size_t)e->cap * sizeof *e->v);
    if (!e->v) abort();
  }
  e->v[e->n++] = (mver){seq, del, vseed, vlen};
}

static void add_version(model *m, int k, int del, uint32_t vseed, uint32_t vlen) {
  add_version_at(m, ++m->seq, k, del, vseed, vlen);
}

static void add_rdel_at(model *m, uint64_t seq, int a, int b) {
  if (m->nrd == m->caprd) {
    m->caprd = m->caprd ? m->caprd * 2 : 16;
    m->rd = realloc(m->rd, (size_t)m->caprd * sizeof *m->rd);
    if (!m->rd) abort();
  }
  m->rd[m->nrd++] = (mrdel){seq, a, b};
}

static void add_rdel(model *m, int a, int b) { add_rdel_at(m, ++m->seq, a, b); }

/* Every entry of an ingested table has one new sequence: its range deletes hide what was
 * there before, never the table's own puts and deletes (view covers only older versions). */
static void apply_ingest(model *m, const meta_op *o) {
  uint64_t seq = ++m->seq;
  for (int j = 0; j < o->nw; j++) {
    const meta_wr *w = &o->ws[j];
    if (w->kind == M_RDEL)
      add_rdel_at(m, seq, w->a, w->b);
    else
      add_version_at(m, seq, w->key, w->kind == M_DEL || meta_marked(w->vlen), w->vseed, w->vlen);
  }
}

int meta_plant; /* --plant: the model forgets some deletes, so that the test must fail */

static void apply_wr(model *m, const meta_wr *w) {
  if (meta_plant && w->kind == M_DEL && w->key % 7 == 3) return;
  /* a marked value reads as deleted in every run (meta_db.c hides it where the removing
   * filter has not run yet) */
  if (w->kind == M_PUT) add_version(m, w->key, meta_marked(w->vlen), w->vseed, w->vlen);
  if (w->kind == M_DEL) add_version(m, w->key, 1, 0, 0);
  if (w->kind == M_RDEL) add_rdel(m, w->a, w->b);
}

static int covers(int a, int b, int k) { return (a < 0 || a <= 2 * k) && (b < 0 || 2 * k < b); }

/* Fills m->vis with what every key shows at sequence s. */
static void view(model *m, uint64_t s) {
  for (int k = 0; k < m->nkeys; k++) {
    const mkey *e = &m->keys[k];
    int i = e->n - 1;
    while (i >= 0 && e->v[i].seq > s) i--;
    m->vis[k] = i < 0 ? (mvis){0} : (mvis){e->v[i].seq, !e->v[i].del, e->v[i].vseed, e->v[i].vlen};
  }
  for (int r = 0; r < m->nrd; r++) {
    const mrdel *d = &m->rd[r];
    if (d->seq > s) continue;
    int from = d->a < 0 ? 0 : (d->a + 1) / 2;
    for (int k = from; k < m->nkeys && covers(d->a, d->b, k); k++)
      if (m->vis[k].seq < d->seq) m->vis[k] = (mvis){d->seq, 0, 0, 0};
  }
}

static uint64_t read_seq(const model *m, int snap) {
  return snap >= 0 && m->snaplive[snap] ? m->snapseq[snap] : m->seq;
}

/* The token of key k as the view shows it; cap limits the bytes hashed (geto). */
static void tok_val(model *m, sbuf *s, int k, uint32_t cap) {
  const mvis *v = &m->vis[k];
  if (!v->live) return meta_tok_val(s, SHALE_NOTFOUND, NULL, 0);
  meta_value(v->vseed, v->vlen, m->val);
  meta_tok_val(s, SHALE_OK, m->val, v->vlen < cap ? v->vlen : cap);
}

static void tok_pos(model *m, sbuf *s, int k) {
  char kb[META_KEYMAX];
  if (k < 0) return sb_printf(s, " end");
  sb_printf(s, " ");
  meta_tok_key(s, kb, meta_key(k, kb));
  tok_val(m, s, k, UINT32_MAX);
}

static int in_range(const miter *it, int k) {
  return (it->lo < 0 || 2 * k >= it->lo) && (it->hi < 0 || 2 * k < it->hi);
}

/* The first live key in range at or after k going forward (dir 1) or backward (-1). */
static int walk(const model *m, const miter *it, int k, int dir) {
  if (k >= m->nkeys) k = dir > 0 ? m->nkeys : m->nkeys - 1;
  for (; k >= 0 && k < m->nkeys; k += dir)
    if (m->vis[k].live && in_range(it, k)) return k;
  return -1;
}

static void seek(const model *m, miter *it, int how, int pt) {
  if (how == S_FIRST) it->pos = walk(m, it, 0, 1);
  if (how == S_LAST) it->pos = walk(m, it, m->nkeys - 1, -1);
  if (how == S_SEEK) it->pos = walk(m, it, (pt + 1) / 2, 1);
  if (how == S_SEEK_PREV) it->pos = walk(m, it, pt / 2, -1);
}

static void do_move(model *m, const meta_op *o, int i, sbuf *out) {
  miter *it = &m->it[o->slot];
  if (!it->live) return sb_printf(out, "%d move dead\n", i);
  view(m, it->seq);
  sb_printf(out, "%d move", i);
  seek(m, it, o->a, o->b);
  tok_pos(m, out, it->pos);
  for (const char *c = o->moves; *c; c++) {
    if (it->pos < 0) {
      sb_printf(out, " .");
      continue;
    }
    it->pos = walk(m, it, it->pos + (*c == 'n' ? 1 : -1), *c == 'n' ? 1 : -1);
    tok_pos(m, out, it->pos);
  }
  sb_printf(out, "\n");
}

static void do_scan(model *m, uint64_t seq, int back, const char *tag, sbuf *out) {
  miter all = {.lo = -1, .hi = -1};
  view(m, seq);
  sb_printf(out, "%s", tag);
  for (int k = walk(m, &all, back ? m->nkeys - 1 : 0, back ? -1 : 1); k >= 0;
       k = walk(m, &all, k + (back ? -1 : 1), back ? -1 : 1))
    tok_pos(m, out, k);
  sb_printf(out, "\n");
}

static void do_read(model *m, const meta_op *o, int i, sbuf *out) {
  view(m, read_seq(m, o->snap));
  if (o->kind == M_GET) sb_printf(out, "%d get ", i), tok_val(m, out, o->key, UINT32_MAX);
  if (o->kind == M_GETO) {
    sb_printf(out, "%d geto %u ", i, m->vis[o->key].live ? m->vis[o->key].vlen : 0);
    tok_val(m, out, o->key, o->cap);
  }
  if (o->kind == M_MGET) {
    sb_printf(out, "%d mget", i);
    for (int j = 0; j < o->n; j++) sb_printf(out, " "), tok_val(m, out, o->keys[j], UINT32_MAX);
  }
  sb_printf(out, "\n");
}

/* A reopen or a crash ends every snapshot and iterator. */
static void restart(model *m) {
  memset(m->snaplive, 0, sizeof m->snaplive);
  memset(m->it, 0, sizeof m->it);
}

static void do_waltail(model *m, int i, sbuf *out) {
  sb_printf(out, "%d waltail", i);
  if (!m->marklive) return sb_printf(out, " nomark\n");
  meta_wal_expect(m->h, m->markop, i, out);
  sb_printf(out, "\n");
}

static void step(model *m, const meta_op *o, int i, sbuf *out) {
  char tag[32];
  switch (o->kind) {
    case M_PUT:
    case M_DEL:
    case M_RDEL:
      apply_wr(m, &o->w);
      break;
    case M_BATCH:
      for (int j = 0; j < o->nw; j++) apply_wr(m, &o->ws[j]);
      break;
    case M_SNAP:
      m->snaplive[o->slot] = 1, m->snapseq[o->slot] = m->seq;
      break;
    case M_SNAPFREE:
      m->snaplive[o->slot] = 0;
      break;
    case M_ITER:
      m->it[o->slot] = (miter){1, -1, read_seq(m, o->snap), o->a, o->b};
      break;
    case M_ITERFREE:
      m->it[o->slot].live = 0;
      break;
    case M_MOVE:
      do_move(m, o, i, out);
      break;
    case M_GET:
    case M_GETO:
    case M_MGET:
      do_read(m, o, i, out);
      break;
    case M_SCAN:
      snprintf(tag, sizeof tag, "%d scan", i);
      do_scan(m, read_seq(m, o->snap), o->a, tag, out);
      break;
    case M_CRASH:
      m->marklive = m->rolive = 0;
      restart(m);
      break;
    case M_REOPEN: /* the read_only handle stays open beside the writer's reopen */
      restart(m);
      break;
    case M_WALMARK:
      m->marklive = 1, m->markop = i;
      break;
    case M_WALTAIL:
      do_waltail(m, i, out);
      break;
    case M_ROOPEN:
      m->rolive = 1, m->roseq = m->seq;
      break;
    case M_ROREAD:
      snprintf(tag, sizeof tag, "%d roread", i);
      if (!m->rolive) sb_printf(out, "%s none\n", tag);
      if (m->rolive) do_scan(m, m->roseq, o->a, tag, out);
      break;
    case M_CKPT:
      m->cklive[o->slot] = 1, m->ckseq[o->slot] = m->seq;
      break;
    case M_CKREAD:
      snprintf(tag, sizeof tag, "%d ckread", i);
      if (!m->cklive[o->slot]) sb_printf(out, "%s none\n", tag);
      if (m->cklive[o->slot]) do_scan(m, m->ckseq[o->slot], 0, tag, out);
      break;
    case M_INGEST:
      apply_ingest(m, o);
      break;
    default:
      break;
  }
}

static void final_reads(model *m, sbuf *out) {
  do_scan(m, m->seq, 0, "final fwd", out);
  do_scan(m, m->seq, 1, "final bwd", out);
  view(m, m->seq);
  sb_printf(out, "final get");
  for (int k = 0; k < m->nkeys; k++) sb_printf(out, " "), tok_val(m, out, k, UINT32_MAX);
  sb_printf(out, "\n");
}

void meta_model_run(const meta_hist *h, int to, sbuf *out) {
  model m = {.nkeys = h->nkeys, .h = h};
  m.keys = calloc((size_t)h->nkeys, sizeof *m.keys);
  m.vis = calloc((size_t)h->nkeys, sizeof *m.vis);
  m.val = malloc(1u << 17);
  if (!m.keys || !m.vis || !m.val) abort();
  for (int i = 0; i < to; i++) step(&m, &h->ops[i], i, out);
  final_reads(&m, out);
  for (int k = 0; k < h->nkeys; k++) free(m.keys[k].v);
  free(m.keys), free(m.vis), free(m.val), free(m.rd);
}
