/* meta_db.c — runs a history on a real DB and prints its reads as meta_model.c does. The
 * run happens in forked children: a crash op makes everything written durable (a SYNC
 * write, or a flush when writes skip the WAL, so every option set recovers the same state),
 * then the child kills itself with SIGKILL; the parent applies a power loss to the
 * directory (io_fault_power_loss) and forks the next child, which reopens and goes on. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_env.h"
#include "meta.h"
#include "shale.h"
#include "testutil.h"

typedef struct runner {
  const meta_hist *h;
  const meta_optset *os;
  const char *dir;
  shale_db *db;
  const shale_snapshot *snap[META_SNAPS];
  shale_iter *it[META_ITERS];
  sbuf *out;
  char *val;
  char *filter_buf[2]; /* the compaction filter's value buffer, one per DB open at once */
  shale_db *ro;        /* a read_only handle beside the writer (roopen) */
  int marklive, markop;
  uint64_t markseq; /* the writer's sequence at the walmark op */
} runner;

/* Under the reverse comparator the DB is given key(n-1-k) for key k and, for point p, the
 * point 2n-2-p (past the last key: "j" and a number falling as p grows, bytewise below
 * every key), so that the comparator's order of the bytes is the model's order of the
 * indexes while their bytewise order runs the other way. */
static size_t db_point(const runner *r, int p, char *out) {
  int n = r->h->nkeys;
  if (!r->os->reverse) return meta_point(p, out);
  if (p <= 2 * n - 2) return meta_point(2 * n - 2 - p, out);
  return (size_t)snprintf(out, META_KEYMAX, "j%08d", 99999999 - p);
}

static size_t db_key(const runner *r, int k, char *out) { return db_point(r, 2 * k, out); }

/* The model's point of DB bytes; -1 for an open range end as the engine or rdel_end spell
 * it (the empty key, or bytes from 0xff on), -2 for bytes no op writes. */
static int model_point(const runner *r, const void *bytes, size_t len) {
  const unsigned char *b = bytes;
  int n = r->h->nkeys, num = 0;
  if (!len || b[0] == 0xff) return -1;
  if (len < 7 || (b[0] != 'k' && !(b[0] == 'j' && r->os->reverse))) return -2;
  for (size_t j = 1; j < (b[0] == 'j' ? 9u : 7u); j++) num = num * 10 + (b[j] - '0');
  if (b[0] == 'j') return 99999999 - num;
  int p = 2 * num + (b[len - 1] == '~');
  return r->os->reverse ? 2 * n - 2 - p : p;
}

/* A key token as the model prints it, whatever bytes the DB was given for the key. */
static void tok_db_key(const runner *r, sbuf *s, const void *k, size_t klen) {
  char kb[META_KEYMAX];
  int p = r->os->reverse ? model_point(r, k, klen) : -2;
  if (p >= 0) return meta_tok_key(s, kb, meta_point(p, kb));
  meta_tok_key(s, k, klen);
}

/* Shared with the children: the op a child crashed at, and what the WAL walks found. */
typedef struct shared {
  int crash_at;
  long wal_walks, wal_absent;
  long filter_removed; /* marked values the removing filter was offered (background threads) */
} shared;
static volatile shared *sh;
long meta_crashes, meta_powerloss_overflows;

static void note_rc(runner *r, int i, const char *what, int rc) {
  if (rc) sb_printf(r->out, "%d %s rc=%d %s\n", i, what, rc, shale_errmsg(r->db));
}

/* Bytewise, as the default order, but through the comparator API: the same results, so the
 * comparator's paths (memtable, tables, merging, range tombstones, bounds) are checked
 * against the model and the other option sets. */
static const shale_comparator meta_comparator = {"meta.bytewise", tu_cmp_bytewise, NULL};
static const shale_comparator meta_reverse = {"meta.reverse", tu_cmp_reverse, NULL};

/* Gives half the values it is offered back as new values of the same bytes (copied into
 * its arg, a buffer of 1 << 17 bytes, larger than any generated value): the compaction's
 * change path runs, and every read stays as the model says. */
static int filter_same(void *arg, int level, const void *key, size_t klen, const void *val,
                       size_t vlen, const void **new_val, size_t *new_vlen) {
  if (level < 1 || level > 6 || vlen > (1u << 17)) abort(); /* outside the filter's contract */
  if (!klen || ((const unsigned char *)key)[klen - 1] % 2) return SHALE_FILTER_KEEP;
  if (vlen) memcpy(arg, val, vlen);
  *new_val = arg, *new_vlen = vlen;
  return SHALE_FILTER_CHANGE_VALUE;
}

/* filter_same, and every marked value removed: the reads hide those anyway, so each key
 * reads the same whether a compaction has run over it or not, and a removal that brought
 * back an older version or took an unmarked one shows. */
static int filter_remove(void *arg, int level, const void *key, size_t klen, const void *val,
                         size_t vlen, const void **new_val, size_t *new_vlen) {
  if (meta_marked(vlen)) {
    __atomic_fetch_add(&sh->filter_removed, 1, __ATOMIC_RELAXED);
    return SHALE_FILTER_REMOVE;
  }
  return filter_same(arg, level, key, klen, val, vlen, new_val, new_vlen);
}

/* The options of os for any DB of the run: the main one (filter buffer 0) or a checkpoint
 * opened beside it (buffer 1). */
static void set_options(runner *r, shale_options *o, int which) {
  const meta_optset *s = r->os;
  shale_options_init(o);
  o->io_mode = s->env_io && !strcmp(s->env_io, "pwrite") ? SHALE_IO_PWRITE : SHALE_IO_URING;
  o->use_mmap = !(s->env_mmap && !strcmp(s->env_mmap, "0"));
  o->env = fault_env(); /* the power losses between children */
  o->block_size = s->block_size, o->write_buffer_size = s->write_buffer_size;
  o->target_file_size = s->target_file_size, o->block_cache_size = s->block_cache_size;
  o->compression = s->compression, o->compression_level = s->compression_level;
  o->bloom_bits_per_key = s->bloom_bits, o->level0_compaction_trigger = s->l0_trigger;
  o->max_open_files = s->max_open_files, o->max_background_jobs = s->bg_jobs;
  o->max_immutable_memtables = s->max_imm, o->delete_persist_seconds = s->delete_persist_seconds;
  if (s->comparator) o->comparator = s->reverse ? &meta_reverse : &meta_comparator;
  o->wal_retention_bytes = s->wal_keep;
  o->compression_max_dict_bytes = s->dict_bytes;
  o->compression_zstd_max_train_bytes = 32 * s->dict_bytes;
  if (s->filter) {
    o->compaction_filter = s->filter == 2 ? filter_remove : filter_same;
    o->compaction_filter_name = s->filter == 2 ? "meta.remove" : "meta.same";
    o->compaction_filter_arg = r->filter_buf[which];
  }
}

static int open_db(runner *r, int read_only) {
  shale_options o;
  set_options(r, &o, 0);
  o.read_only = read_only;
  int rc = shale_open(r->dir, &o, &r->db);
  if (rc) sb_printf(r->out, "open rc=%d %s\n", rc, shale_errmsg(NULL));
  return rc;
}

static void drop_handles(runner *r) {
  for (int i = 0; i < META_ITERS; i++) shale_iter_free(r->it[i]), r->it[i] = NULL;
  for (int i = 0; i < META_SNAPS; i++) shale_snapshot_free(r->db, r->snap[i]), r->snap[i] = NULL;
}

static unsigned wflags(const runner *r, int sync) {
  return r->os->no_wal ? SHALE_NO_WAL : sync ? SHALE_SYNC : 0;
}

/* A NULL bound for point -1; else the point's bytes in buf. */
static const char *pt(const runner *r, int p, char *buf, size_t *len) {
  *len = p < 0 ? 0 : db_point(r, p, buf);
  return p < 0 ? NULL : buf;
}

/* A range delete's end: a DB with a comparator takes no open end, so there point -1 is the
 * empty key (below every key) or 0xff (above every key: they all begin with 'k'). */
static const char *rdel_end(const runner *r, int p, int upper, char *buf, size_t *len) {
  if (p >= 0 || !r->os->comparator) return pt(r, p, buf, len);
  buf[0] = '\xff'; /* in reverse order the empty key is above every key and 0xff below */
  *len = upper != r->os->reverse ? 1 : 0;
  return buf;
}

static int write_one(runner *r, const meta_wr *w, int sync) {
  char k[META_KEYMAX], e[META_KEYMAX];
  size_t kl, el;
  if (w->kind == M_PUT) {
    meta_value(w->vseed, w->vlen, r->val);
    return shale_put(r->db, k, db_key(r, w->key, k), r->val, w->vlen, wflags(r, sync));
  }
  if (w->kind == M_DEL) return shale_delete(r->db, k, db_key(r, w->key, k), wflags(r, sync));
  const char *b = rdel_end(r, w->a, 0, k, &kl), *en = rdel_end(r, w->b, 1, e, &el);
  return shale_delete_range(r->db, b, kl, en, el, wflags(r, sync));
}

static int write_batch(runner *r, const meta_op *o) {
  shale_batch *b;
  int rc = shale_batch_new(&b);
  for (int j = 0; !rc && j < o->nw; j++) {
    const meta_wr *w = &o->ws[j];
    char k[META_KEYMAX], e[META_KEYMAX];
    size_t kl, el;
    if (w->kind == M_PUT) {
      meta_value(w->vseed, w->vlen, r->val);
      rc = shale_batch_put(b, k, db_key(r, w->key, k), r->val, w->vlen);
    } else if (w->kind == M_DEL) {
      rc = shale_batch_delete(b, k, db_key(r, w->key, k));
    } else {
      const char *bb = rdel_end(r, w->a, 0, k, &kl), *en = rdel_end(r, w->b, 1, e, &el);
      rc = shale_batch_delete_range(b, bb, kl, en, el);
    }
  }
  if (!rc) rc = shale_write(r->db, b, wflags(r, o->sync));
  shale_batch_free(b);
  return rc;
}

static void read_opts(const runner *r, int snap, shale_read_options *ro) {
  shale_read_options_init(ro);
  ro->snapshot = snap >= 0 ? r->snap[snap] : NULL;
}

/* Steps past the entries holding a marked value, which every run reads as deleted. */
static void skip_marked(shale_iter *it, int forward) {
  size_t vl;
  while (shale_iter_valid(it) && (shale_iter_value(it, &vl), meta_marked(vl)))
    forward ? shale_iter_next(it) : shale_iter_prev(it);
}

/* A found value that is marked reads as deleted (meta_marked): rc and length to print. */
static int hide_marked(int rc, size_t *vl) {
  if (rc != SHALE_OK || !meta_marked(*vl)) return rc;
  *vl = 0;
  return SHALE_NOTFOUND;
}

static void tok_pos(const runner *r, sbuf *s, shale_iter *it) {
  size_t kl, vl;
  if (!shale_iter_valid(it)) {
    int st = shale_iter_status(it);
    return st ? sb_printf(s, " end!%d", st) : sb_printf(s, " end");
  }
  const void *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
  sb_printf(s, " ");
  tok_db_key(r, s, k, kl);
  meta_tok_val(s, SHALE_OK, v, vl);
}

static void do_iter(runner *r, const meta_op *o, int i) {
  char lo[META_KEYMAX], hi[META_KEYMAX];
  shale_read_options ro;
  read_opts(r, o->snap, &ro);
  ro.lower_bound = pt(r, o->a, lo, &ro.lower_bound_len);
  ro.upper_bound = pt(r, o->b, hi, &ro.upper_bound_len);
  shale_iter_free(r->it[o->slot]);
  r->it[o->slot] = NULL;
  note_rc(r, i, "iter", shale_iter_new_opts(r->db, &ro, &r->it[o->slot]));
}

static void do_move(runner *r, const meta_op *o, int i) {
  shale_iter *it = r->it[o->slot];
  char k[META_KEYMAX];
  if (!it) return sb_printf(r->out, "%d move dead\n", i);
  sb_printf(r->out, "%d move", i);
  if (o->a == S_FIRST) shale_iter_seek_first(it);
  if (o->a == S_LAST) shale_iter_seek_last(it);
  if (o->a == S_SEEK) shale_iter_seek(it, k, db_point(r, o->b, k));
  if (o->a == S_SEEK_PREV) shale_iter_seek_for_prev(it, k, db_point(r, o->b, k));
  skip_marked(it, o->a == S_FIRST || o->a == S_SEEK);
  tok_pos(r, r->out, it);
  for (const char *c = o->moves; *c; c++) {
    if (!shale_iter_valid(it)) {
      sb_printf(r->out, " .");
      continue;
    }
    *c == 'n' ? shale_iter_next(it) : shale_iter_prev(it);
    skip_marked(it, *c == 'n');
    tok_pos(r, r->out, it);
  }
  sb_printf(r->out, "\n");
}

static void scan_db(runner *r, shale_db *db, const shale_snapshot *snap, int back,
                    const char *tag) {
  shale_iter *it;
  sb_printf(r->out, "%s", tag);
  int rc = shale_iter_new(db, snap, &it);
  if (rc) return sb_printf(r->out, " iter_new!%d\n", rc);
  back ? shale_iter_seek_last(it) : shale_iter_seek_first(it);
  for (skip_marked(it, !back); shale_iter_valid(it); skip_marked(it, !back)) {
    tok_pos(r, r->out, it);
    back ? shale_iter_prev(it) : shale_iter_next(it);
  }
  if (shale_iter_status(it)) sb_printf(r->out, " status!%d", shale_iter_status(it));
  shale_iter_free(it);
  sb_printf(r->out, "\n");
}

static void scan(runner *r, const shale_snapshot *snap, int back, const char *tag) {
  scan_db(r, r->db, snap, back, tag);
}

static void do_get(runner *r, const meta_op *o, int i) {
  char k[META_KEYMAX];
  void *v;
  size_t vl;
  int rc =
      shale_get(r->db, o->snap >= 0 ? r->snap[o->snap] : NULL, k, db_key(r, o->key, k), &v, &vl);
  sb_printf(r->out, "%d get ", i);
  rc = hide_marked(rc, &vl);
  meta_tok_val(r->out, rc, v, vl);
  sb_printf(r->out, "\n");
  shale_free(v);
}

static void do_geto(runner *r, const meta_op *o, int i) {
  char k[META_KEYMAX], buf[128];
  shale_read_options ro;
  size_t vl;
  read_opts(r, o->snap, &ro);
  void *b = o->cap ? buf : NULL; /* NULL with cap 0 asks for the length only */
  int rc = hide_marked(shale_get_opts(r->db, &ro, k, db_key(r, o->key, k), b, o->cap, &vl), &vl);
  sb_printf(r->out, "%d geto %zu ", i, vl);
  meta_tok_val(r->out, rc, buf, vl < o->cap ? vl : o->cap);
  sb_printf(r->out, "\n");
}

static void do_mget(runner *r, const meta_op *o, int i) {
  char kb[META_MGET][META_KEYMAX];
  const void *keys[META_MGET];
  size_t kl[META_MGET], vl[META_MGET];
  void *v[META_MGET];
  int rcs[META_MGET];
  shale_read_options ro;
  read_opts(r, o->snap, &ro);
  for (int j = 0; j < o->n; j++) keys[j] = kb[j], kl[j] = db_key(r, o->keys[j], kb[j]);
  int rc = shale_multi_get(r->db, &ro, (size_t)o->n, keys, kl, v, vl, rcs);
  sb_printf(r->out, "%d mget", i);
  for (int j = 0; j < o->n; j++) {
    sb_printf(r->out, " ");
    int rcj = hide_marked(rcs[j], &vl[j]);
    meta_tok_val(r->out, rcj, v[j], vl[j]);
    shale_free(v[j]);
  }
  if (rc) sb_printf(r->out, " rc=%d", rc);
  sb_printf(r->out, "\n");
}

static void do_compact(runner *r, const meta_op *o, int i) {
  char b[META_KEYMAX], e[META_KEYMAX];
  size_t bl, el;
  const char *bp = pt(r, o->a, b, &bl), *ep = pt(r, o->b, e, &el);
  note_rc(r, i, "compact", shale_compact_range(r->db, bp, bl, ep, el));
}

/* Checkpoint slots are directories beside the DB's, outside the power-loss tracking: a
 * checkpoint is made durable before shale_checkpoint returns, and lives on across crashes
 * and reopens until the slot is taken again. */
static void ck_dir(const runner *r, int slot, char *out, size_t cap) {
  snprintf(out, cap, "%s-ck%d", r->dir, slot);
}

static void do_ckpt(runner *r, const meta_op *o, int i) {
  char d[4200];
  ck_dir(r, o->slot, d, sizeof d);
  tu_rmrf(d);
  unsigned fl = o->sync || r->os->no_wal ? SHALE_CHECKPOINT_FLUSH : 0;
  note_rc(r, i, "checkpoint", shale_checkpoint(r->db, d, fl, NULL, NULL));
}

static void do_ckread(runner *r, const meta_op *o, int i) {
  char d[4200], tag[32];
  shale_options opt;
  shale_db *ck;
  ck_dir(r, o->slot, d, sizeof d);
  snprintf(tag, sizeof tag, "%d ckread", i);
  if (access(d, F_OK)) return sb_printf(r->out, "%s none\n", tag);
  set_options(r, &opt, 1);
  opt.create_if_missing = 0;
  int rc = shale_open(d, &opt, &ck);
  if (rc) return sb_printf(r->out, "%s open rc=%d %s\n", tag, rc, shale_errmsg(NULL));
  scan_db(r, ck, NULL, 0, tag);
  rc = shale_close(ck);
  if (rc) sb_printf(r->out, "%d ckread close rc=%d\n", i, rc);
}

static int ingest_add(const runner *r, shale_sst_writer *w, const meta_wr *e, char *val) {
  char k[META_KEYMAX], b[META_KEYMAX];
  size_t kl = db_key(r, e->key, k), bl;
  if (e->kind == M_PUT)
    return meta_value(e->vseed, e->vlen, val), shale_sst_writer_put(w, k, kl, val, e->vlen);
  if (e->kind == M_DEL) return shale_sst_writer_delete(w, k, kl);
  kl = db_point(r, e->a, k), bl = db_point(r, e->b, b);
  return shale_sst_writer_delete_range(w, k, kl, b, bl);
}

static void do_ingest(runner *r, const meta_op *o, int i) {
  char path[4200];
  shale_options opt;
  shale_sst_writer *w;
  snprintf(path, sizeof path, "%s-ingest.sst", r->dir);
  set_options(r, &opt, 1);
  int rc = shale_sst_writer_open(path, &opt, &w);
  for (int j = 0; !rc && j < o->nw; j++) rc = ingest_add(r, w, &o->ws[j], r->val);
  if (!rc)
    rc = shale_sst_writer_finish(w, NULL);
  else if (w)
    shale_sst_writer_abandon(w);
  const char *files[] = {path};
  if (!rc) rc = shale_ingest(r->db, files, 1, o->sync ? SHALE_INGEST_MOVE : 0);
  note_rc(r, i, "ingest", rc);
  unlink(path);
}

static void do_walmark(runner *r, int i) {
  char *v = NULL;
  int rc = shale_property(r->db, "shale.sequence", &v);
  note_rc(r, i, "walmark", rc);
  r->marklive = !rc, r->markop = i;
  r->markseq = rc ? 0 : strtoull(v, NULL, 10);
  shale_free(v);
}

/* One walk's state: its tokens go to out; batches must come in rising sequences. */
typedef struct walk {
  runner *r;
  sbuf *out;
  uint64_t ops;
} walk;

static int walk_visit(void *arg, int op, const void *key, size_t klen, const void *val,
                      size_t vlen) {
  walk *w = arg;
  int a = model_point(w->r, key, klen), b = op == SHALE_OP_DELETE_RANGE ? 0 : -2;
  w->ops++;
  if (op == SHALE_OP_DELETE_RANGE) b = model_point(w->r, val, vlen);
  /* the delete of the largest key that stands for a range delete's open end */
  if (op == SHALE_OP_DELETE && a == -1) return 0;
  if (op != SHALE_OP_DELETE_RANGE && (a < 0 || a % 2)) {
    sb_printf(w->out, " stray:");
    return meta_tok_key(w->out, key, klen), 0;
  }
  int kind = op == SHALE_OP_PUT ? M_PUT : op == SHALE_OP_DELETE ? M_DEL : M_RDEL;
  meta_tok_write(w->out, kind, kind == M_RDEL ? a : a / 2, b, val, vlen);
  return 0;
}

static void walk_batches(runner *r, shale_updates *u) {
  walk w = {r, r->out, 0};
  uint64_t first, next = r->markseq + 1;
  const shale_batch *b;
  int rc;
  while ((rc = shale_updates_next(u, &first, &b)) == SHALE_OK) {
    if (first < next)
      sb_printf(r->out, " seq!%llu<%llu", (unsigned long long)first, (unsigned long long)next);
    sb_printf(r->out, " |");
    w.ops = 0;
    int irc = shale_batch_iterate(b, walk_visit, &w);
    if (irc) sb_printf(r->out, " iterate!%d", irc);
    next = first + w.ops;
  }
  if (rc != SHALE_NOTFOUND) sb_printf(r->out, " next!%d", rc);
}

/* The writes since the mark, as the WAL holds them. SHALE_NOTFOUND is the documented
 * answer when a WAL they need is gone (flushed without retention, or SHALE_NO_WAL
 * writes): the walk then has nothing to check, and prints what the model expects. */
static void do_waltail(runner *r, int i) {
  shale_updates *u;
  sb_printf(r->out, "%d waltail", i);
  if (!r->marklive) return sb_printf(r->out, " nomark\n");
  int rc = shale_updates_since(r->db, r->markseq + 1, &u);
  sh->wal_walks++;
  if (rc == SHALE_NOTFOUND) {
    sh->wal_absent++;
    meta_wal_expect(r->h, r->markop, i, r->out);
  } else if (rc) {
    sb_printf(r->out, " since!%d %s", rc, shale_errmsg(r->db));
  } else {
    walk_batches(r, u);
  }
  shale_updates_free(u);
  sb_printf(r->out, "\n");
}

static void close_ro(runner *r, int i) {
  if (r->ro) note_rc(r, i, "roclose", shale_close(r->ro));
  r->ro = NULL;
}

/* A read_only handle reads what the WALs and tables held at its open: writes that skip
 * the WAL get there by a flush first. */
static void do_roopen(runner *r, int i) {
  shale_options o;
  close_ro(r, i);
  if (r->os->no_wal) note_rc(r, i, "roflush", shale_flush(r->db));
  set_options(r, &o, 1);
  o.read_only = 1, o.create_if_missing = 0;
  int rc = shale_open(r->dir, &o, &r->ro);
  if (rc) sb_printf(r->out, "%d roopen rc=%d %s\n", i, rc, shale_errmsg(NULL));
}

static void do_roread(runner *r, const meta_op *o, int i) {
  char tag[32];
  snprintf(tag, sizeof tag, "%d roread", i);
  if (!r->ro) return sb_printf(r->out, "%s none\n", tag);
  scan_db(r, r->ro, NULL, o->a, tag);
}

static int do_reopen(runner *r, int i) {
  drop_handles(r);
  note_rc(r, i, "close", shale_close(r->db));
  r->db = NULL;
  return open_db(r, 0);
}

static void flush_out(runner *r, int fd) {
  for (size_t at = 0; at < r->out->n;) {
    ssize_t k = write(fd, r->out->p + at, r->out->n - at);
    if (k <= 0 && errno != EINTR) _exit(5);
    if (k > 0) at += (size_t)k;
  }
  r->out->n = 0;
}

static void do_crash(runner *r, int i, int fd) {
  int rc = r->os->no_wal ? shale_flush(r->db) : shale_delete(r->db, "zbarrier", 8, SHALE_SYNC);
  note_rc(r, i, "barrier", rc);
  flush_out(r, fd);
  sh->crash_at = i;
  raise(SIGKILL);
}

/* Runs op i; returns nonzero when the DB could not be reopened. */
static int step(runner *r, const meta_op *o, int i, int fd) {
  switch (o->kind) {
    case M_PUT:
    case M_DEL:
    case M_RDEL:
      note_rc(r, i, "write", write_one(r, &o->w, o->sync));
      break;
    case M_BATCH:
      note_rc(r, i, "batch", write_batch(r, o));
      break;
    case M_SNAP:
      shale_snapshot_free(r->db, r->snap[o->slot]), r->snap[o->slot] = NULL;
      note_rc(r, i, "snap", shale_snapshot_new(r->db, &r->snap[o->slot]));
      break;
    case M_SNAPFREE:
      shale_snapshot_free(r->db, r->snap[o->slot]), r->snap[o->slot] = NULL;
      break;
    case M_ITER:
      do_iter(r, o, i);
      break;
    case M_ITERFREE:
      shale_iter_free(r->it[o->slot]), r->it[o->slot] = NULL;
      break;
    case M_MOVE:
      do_move(r, o, i);
      break;
    case M_GET:
      do_get(r, o, i);
      break;
    case M_GETO:
      do_geto(r, o, i);
      break;
    case M_MGET:
      do_mget(r, o, i);
      break;
    case M_SCAN: {
      char tag[32];
      snprintf(tag, sizeof tag, "%d scan", i);
      scan(r, o->snap >= 0 ? r->snap[o->snap] : NULL, o->a, tag);
      break;
    }
    case M_FLUSH:
      note_rc(r, i, "flush", shale_flush(r->db));
      break;
    case M_COMPACT:
      do_compact(r, o, i);
      break;
    case M_REOPEN:
      return do_reopen(r, i);
    case M_CRASH:
      do_crash(r, i, fd);
      break;
    case M_CKPT:
      do_ckpt(r, o, i);
      break;
    case M_CKREAD:
      do_ckread(r, o, i);
      break;
    case M_INGEST:
      do_ingest(r, o, i);
      break;
    case M_WALMARK:
      do_walmark(r, i);
      break;
    case M_WALTAIL:
      do_waltail(r, i);
      break;
    case M_ROOPEN:
      do_roopen(r, i);
      break;
    case M_ROREAD:
      do_roread(r, o, i);
      break;
  }
  return 0;
}

static void final_reads(runner *r) {
  drop_handles(r);
  close_ro(r, -1);
  if (r->os->read_only_end) {
    note_rc(r, -1, "close", shale_close(r->db));
    r->db = NULL;
    if (open_db(r, 1)) return;
  }
  scan(r, NULL, 0, "final fwd");
  scan(r, NULL, 1, "final bwd");
  sb_printf(r->out, "final get");
  for (int k = 0; k < r->h->nkeys; k++) {
    char kb[META_KEYMAX];
    void *v;
    size_t vl;
    int rc = hide_marked(shale_get(r->db, NULL, kb, db_key(r, k, kb), &v, &vl), &vl);
    sb_printf(r->out, " ");
    meta_tok_val(r->out, rc, v, vl);
    shale_free(v);
  }
  sb_printf(r->out, "\n");
  note_rc(r, -1, "close", shale_close(r->db));
}

static void child(const meta_hist *h, int from, int to, const meta_optset *os, const char *dir,
                  int fd) {
  sbuf out = {0};
  runner r = {.h = h, .os = os, .dir = dir, .out = &out, .val = malloc(1u << 17)};
  for (int b = 0; b < 2; b++) r.filter_buf[b] = malloc(1u << 17);
  if (!open_db(&r, 0)) {
    int i = from;
    while (i < to && !step(&r, &h->ops[i], i, fd)) i++;
    if (i == to) final_reads(&r);
  }
  flush_out(&r, fd);
  sb_free(&out);
  free(r.val), free(r.filter_buf[0]), free(r.filter_buf[1]);
  exit(0);
}

static int read_all(const char *path, sbuf *out) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_printf(out, "%.*s", (int)n, buf);
  fclose(f);
  return 0;
}

/* Forks one child per stretch between crashes; 0 when the last one finished the history. */
static int run_children(const meta_hist *h, int to, const meta_optset *os, const char *dir, int fd,
                        sbuf *out) {
  for (int from = 0;;) {
    sh->crash_at = -1;
    pid_t pid = fork();
    if (pid < 0) return sb_printf(out, "fork failed\n"), -1;
    if (pid == 0) child(h, from, to, os, dir, fd);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && sh->crash_at >= 0)) {
      sb_printf(out, "child died: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      return -1;
    }
    meta_crashes++;
    int changed = io_fault_power_loss();
    if (changed < 0) meta_powerloss_overflows++;
    if (getenv("SHALE_META_DEBUG")) {
      char cmd[4200];
      snprintf(cmd, sizeof cmd, "echo power loss changed %d files; ls -l %s", changed, dir);
      if (system(cmd)) {
      }
    }
    from = sh->crash_at + 1;
  }
}

/* The checkpoints of the last history run in dir. */
static void rm_side_dirs(const char *dir) {
  char d[4200];
  for (int s = 0; s < META_CKPTS; s++) snprintf(d, sizeof d, "%s-ck%d", dir, s), tu_rmrf(d);
}

void meta_db_counts(long *wal_walks, long *wal_absent, long *filter_removed) {
  *wal_walks = sh ? sh->wal_walks : 0;
  *wal_absent = sh ? sh->wal_absent : 0;
  *filter_removed = sh ? sh->filter_removed : 0;
}

int meta_db_run(const meta_hist *h, int to, const meta_optset *os, const char *dir, sbuf *out) {
  if (!sh) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    sh = p;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s.out", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0 || mkdir(dir, 0755) != 0) abort();
  rm_side_dirs(dir);
  io_fault_track_begin(dir);
  io_fault_power_loss_seed(h->seed);
  sbuf res = {0};
  int rc = run_children(h, to, os, dir, fd, &res);
  io_fault_track_end();
  rm_side_dirs(dir);
  close(fd);
  read_all(path, out);
  sb_printf(out, "%.*s", (int)res.n, res.p ? res.p : "");
  sb_free(&res);
  unlink(path);
  return rc;
}
