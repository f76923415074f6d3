/* compaction.c — leveled compaction that is delete-aware. Picking: files whose oldest
 * tombstone nears the persistence deadline, L0 by file count, the deletes over ranges that
 * iterators found dead (suggestions), deeper levels by size against their target, then files
 * dense with tombstones. Merging drops a version when a newer one is visible to every
 * snapshot, a tombstone when additionally no deeper level can hold its key, and anything a
 * range tombstone visible to every snapshot covers. */
#include "engine/compaction.h"

#include <stdlib.h>
#include <string.h>

#include "engine/filename.h"
#include "engine/iter_sources.h"
#include "engine/merge_iter.h"
#include "engine/snapshot.h"
#include "io/io.h"
#include "sstable/sst_builder.h"
#include "util/clock.h"
#include "util/ikey.h"

uint64_t level_target_bytes(const shale_db *db, int level) {
  uint64_t t = db->opt.max_bytes_for_level_base;
  for (int l = 1; l < level; l++) t *= (uint64_t)db->opt.level_size_multiplier;
  return t;
}

void compaction_free(compaction *c) {
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < c->n[i]; j++) file_meta_unref(c->in[i][j]);
    free(c->in[i]);
  }
  memset(c, 0, sizeof *c);
}

static int add_input(compaction *c, int which, file_meta *f) {
  file_meta **p = realloc(c->in[which], sizeof *p * (size_t)(c->n[which] + 1));
  if (!p) return SHALE_NOMEM;
  c->in[which] = p;
  p[c->n[which]++] = f;
  file_meta_ref(f);
  return SHALE_OK;
}

static const uint8_t *ukey_of(const buf *ik, size_t *len) {
  *len = ik->len - IKEY_TRAILER;
  return ik->data;
}

static int overlaps(const shale_comparator *cmp, const file_meta *f, const void *b, size_t bl,
                    const void *e, size_t el) {
  size_t sl, ll;
  const uint8_t *s = ukey_of(&f->smallest, &sl), *l = ukey_of(&f->largest, &ll);
  return (!e || ukey_cmp(cmp, s, sl, e, el) <= 0) && (!b || ukey_cmp(cmp, l, ll, b, bl) >= 0);
}

/* Widens [*b, *e] to cover f. */
static void widen(const shale_comparator *cmp, const file_meta *f, buf *b, buf *e, int *first) {
  size_t sl, ll;
  const uint8_t *s = ukey_of(&f->smallest, &sl), *l = ukey_of(&f->largest, &ll);
  if (*first || ukey_cmp(cmp, s, sl, b->data, b->len) < 0) buf_clear(b), buf_append(b, s, sl);
  if (*first || ukey_cmp(cmp, l, ll, e->data, e->len) > 0) buf_clear(e), buf_append(e, l, ll);
  *first = 0;
}

/* in[1] := the files of out_level overlapping everything in in[0]. */
static int add_overlaps(shale_db *db, compaction *c) SH_REQUIRES(db->mu) {
  if (c->out_level == c->level) return SHALE_OK;
  buf b, e;
  buf_init(&b);
  buf_init(&e);
  int first = 1, rc = SHALE_OK;
  for (int i = 0; i < c->n[0]; i++) widen(db->cmp, c->in[0][i], &b, &e, &first);
  version *v = db_current_version(db);
  for (int i = 0; !rc && i < v->nfiles[c->out_level]; i++) {
    file_meta *f = v->files[c->out_level][i];
    if (overlaps(db->cmp, f, b.data, b.len, e.data, e.len)) rc = add_input(c, 1, f);
  }
  if (!buf_ok(&b) || !buf_ok(&e)) rc = SHALE_NOMEM;
  buf_free(&b);
  buf_free(&e);
  return rc;
}

static int tomb_percent(const file_meta *f) {
  uint64_t t = f->point_tombstones + f->range_tombstones;
  return f->entries ? (int)(t * 100 / f->entries) : (t ? 100 : 0);
}

static int last_nonempty_level(const version *v) {
  for (int l = NUM_LEVELS - 1; l > 0; l--)
    if (v->nfiles[l]) return l;
  return 0;
}

/* A file whose tombstones all sit below every snapshot can make progress when compacted:
 * down a level, or dropped at the bottom. Others would be rewritten to no effect. */
static int deletes_movable(const file_meta *f, uint64_t snap) {
  return f->point_tombstones + f->range_tombstones > 0 && f->max_tomb_seq <= snap;
}

/* Bytes f's deletes would free below it: for point tombstones, their count times the mean
 * entry size of the deeper files overlapping f; for range tombstones, the deeper files that
 * lie wholly inside f's span. Advisory (doc/DESIGN.md): it only orders compactions. */
static uint64_t estimate_freed(const version *v, int level, const file_meta *f) {
  size_t fsl = f->smallest.len - IKEY_TRAILER, fll = f->largest.len - IKEY_TRAILER;
  uint64_t bytes = 0, entries = 0, inside = 0;
  for (int l = level + 1; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      const file_meta *g = v->files[l][i];
      if (!overlaps(v->cmp, g, f->smallest.data, fsl, f->largest.data, fll)) continue;
      bytes += g->file_size;
      entries += g->entries;
      size_t gsl = g->smallest.len - IKEY_TRAILER, gll = g->largest.len - IKEY_TRAILER;
      if (ukey_cmp(v->cmp, g->smallest.data, gsl, f->smallest.data, fsl) >= 0 &&
          ukey_cmp(v->cmp, g->largest.data, gll, f->largest.data, fll) <= 0)
        inside += g->file_size;
    }
  uint64_t point = entries ? f->point_tombstones * (bytes / entries) : 0;
  return point + (f->range_tombstones ? inside : 0);
}

/* Compacts pick, a file at level holding deletes that can make progress, one level down
 * with what it overlaps there, or in place at the bottom, where its tombstones are dropped.
 * Returns 1, or SHALE_NOMEM. */
static int push_deletes_down(shale_db *db, compaction *c, int level, file_meta *pick,
                             compaction_reason reason) SH_REQUIRES(db->mu) {
  version *v = db_current_version(db);
  int bottom = last_nonempty_level(v);
  c->level = level;
  c->out_level = level < bottom ? level + 1 : (level == 0 ? 1 : level);
  c->reason = reason;
  if (level == 0) { /* L0 files overlap: all of them go together */
    for (int j = 0; j < v->nfiles[0]; j++)
      if (add_input(c, 0, v->files[0][j])) return SHALE_NOMEM;
  } else if (add_input(c, 0, pick)) {
    return SHALE_NOMEM;
  }
  return add_overlaps(db, c) ? SHALE_NOMEM : 1;
}

/* Deadline picks take the most overdue file first; otherwise the first dense one. */
static int pick_delete_file(shale_db *db, compaction *c, uint64_t snap, int due_only)
    SH_REQUIRES(db->mu) {
  version *v = db_current_version(db);
  uint64_t deadline_us = (uint64_t)(db->opt.delete_persist_seconds * 1e6 / DEADLINE_SLACK);
  uint64_t now = clock_wall_us();
  int level = -1;
  file_meta *pick = NULL;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      file_meta *f = v->files[l][i];
      if (!deletes_movable(f, snap)) continue;
      int due = deadline_us && f->oldest_tomb_us && f->oldest_tomb_us + deadline_us < now;
      if (due_only) {
        if (due && (!pick || f->oldest_tomb_us < pick->oldest_tomb_us)) pick = f, level = l;
        continue;
      }
      f->est_tomb_freed_bytes = estimate_freed(v, l, f);
      /* dense in tombstones, or deleting (say, by a range) more than it weighs itself */
      if (!pick &&
          (tomb_percent(f) >= TOMBSTONE_DENSE_PERCENT || f->est_tomb_freed_bytes >= f->file_size))
        pick = f, level = l;
    }
  if (!pick) return 0;
  return push_deletes_down(db, c, level, pick, due_only ? CR_DELETE_DEADLINE : CR_TOMBSTONE_DENSE);
}

/* The densest file in tombstones when dense enough, else the next in key order after the
 * last one compacted here, so a level is rewritten evenly. */
static file_meta *pick_in_level(shale_db *db, version *v, int level) SH_REQUIRES(db->mu) {
  file_meta *densest = NULL, *next = NULL;
  const buf *ptr = &db_mu_held(db)->compact_ptr[level];
  for (int i = 0; i < v->nfiles[level]; i++) {
    file_meta *f = v->files[level][i];
    if (!densest || tomb_percent(f) > tomb_percent(densest)) densest = f;
    if (!next &&
        (!ptr->len || ikey_cmp(v->cmp, f->smallest.data, f->smallest.len, ptr->data, ptr->len) > 0))
      next = f;
  }
  if (tomb_percent(densest) >= TOMBSTONE_DENSE_PERCENT) return densest;
  return next ? next : v->files[level][0];
}

/* The level whose size score is highest and at least 1, or -1; its score in *score. */
static int best_size_level(shale_db *db, double *score) SH_REQUIRES(db->mu) {
  version *v = db_current_version(db);
  double best = 1.0;
  int level = -1;
  double s0 = (double)v->nfiles[0] / db->opt.level0_compaction_trigger;
  if (s0 >= best) best = s0, level = 0;
  for (int l = 1; l < NUM_LEVELS - 1; l++) {
    double s = (double)version_level_bytes(v, l) / (double)level_target_bytes(db, l);
    if (s > best) best = s, level = l;
  }
  *score = best;
  return level;
}

static int pick_by_size(shale_db *db, compaction *c, int level) SH_REQUIRES(db->mu) {
  version *v = db_current_version(db);
  if (level < 0) return 0;
  c->level = level;
  c->out_level = level + 1;
  c->reason = level ? CR_LEVEL_SIZE : CR_L0_FILES;
  if (level == 0) {
    for (int j = 0; j < v->nfiles[0]; j++)
      if (add_input(c, 0, v->files[0][j])) return SHALE_NOMEM;
  } else {
    file_meta *pick = pick_in_level(db, v, level);
    buf *ptr = &db_mu_held(db)->compact_ptr[level];
    buf_clear(ptr);
    buf_append(ptr, pick->largest.data, pick->largest.len);
    if (add_input(c, 0, pick)) return SHALE_NOMEM;
  }
  return add_overlaps(db, c) ? SHALE_NOMEM : 1;
}

/* ---- suggestions: ranges iterators found dead ---- */

/* A level this many times over its target is compacted before suggestions are. */
#define SIZE_URGENT_SCORE 2.0

/* Bytewise: only a bytewise DB has dead spans (iter.c). */
static int overlaps_span(const file_meta *f, span_bound lo, span_bound hi) {
  size_t sl, ll;
  const uint8_t *s = ukey_of(&f->smallest, &sl), *l = ukey_of(&f->largest, &ll);
  return span_bound_cmp_key(hi, 0, s, sl) > 0 && span_bound_cmp_key(lo, 1, l, ll) <= 0;
}

static int files_overlap(const shale_comparator *cmp, const file_meta *a, const file_meta *b) {
  size_t sl, ll;
  const uint8_t *s = ukey_of(&b->smallest, &sl), *l = ukey_of(&b->largest, &ll);
  return overlaps(cmp, a, s, sl, l, ll);
}

/* Marks the files of v overlapping [lo, hi); returns how many were not marked before. */
static int mark_overlapping(shale_db *db, version *v, span_bound lo, span_bound hi)
    SH_REQUIRES(db->mu) {
  int marked = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      file_meta *f = v->files[l][i];
      if (db_file_held(db, f)->dead_hint || !overlaps_span(f, lo, hi)) continue;
      db_file_held(db, f)->dead_hint = 1;
      marked++;
    }
  return marked;
}

void compaction_suggest_range(shale_db *db, span_bound lo, span_bound hi, uint64_t weight,
                              uint64_t fresh) {
  if (fresh > weight) fresh = weight;
  if ((weight - fresh) / SUGGEST_HIDDEN_KEYS == weight / SUGGEST_HIDDEN_KEYS) return;
  sh_mutex_lock(&db->mu);
  /* Only new marks wake the threads: as a queue's head moves on, its suggestions mark the
   * same files again, and the picker has already looked at those. */
  const db_mu_state *s = db_mu_held(db);
  if (!s->shutting_down && !s->bg_error && mark_overlapping(db, db_current_version(db), lo, hi))
    pthread_cond_broadcast(&db->bg_cv);
  sh_mutex_unlock(&db->mu);
}

void compaction_carry_marks(shale_db *db, const compaction *c) {
  version *v = db_current_version(db);
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < c->n[w]; i++) {
      file_meta *g = c->in[w][i];
      if (!db_file_held(db, g)->dead_hint) continue;
      for (int j = 0; j < v->nfiles[c->out_level]; j++) {
        file_meta *f = v->files[c->out_level][j];
        if (files_overlap(v->cmp, f, g)) db_file_held(db, f)->dead_hint = 1;
      }
    }
}

static int movable_count(uint64_t point, uint64_t range, uint64_t max_tomb_seq, uint64_t snap) {
  return (point >= HINT_MIN_TOMBSTONES || range > 0) && max_tomb_seq <= snap;
}

/* Does f hold enough deletes, all below every snapshot, to be worth carrying down? */
static int carries_deletes(const file_meta *f, uint64_t snap) {
  return movable_count(f->point_tombstones, f->range_tombstones, f->max_tomb_seq, snap);
}

/* Would sealing the mutable memtable give compaction deletes to carry? Only a snapshot
 * pins them: last_seq lags the delete being inserted right now, and a picker that took
 * that for a pin would drop the marks, or never seal, just as a queue's last pop lands. */
static int mem_carries_deletes(shale_db *db, memtable_stats *st) SH_REQUIRES(db->mu) {
  memtable_get_stats(db->mem, st);
  return movable_count(st->tombstones, st->range_tombstones, st->max_tomb_seq, db_snapshot_pin(db));
}

/* The shallowest file at or above g's level that overlaps g and carries deletes: compacting
 * it takes the deletes over g's range one level further down. NULL when there is none. */
static file_meta *find_carrier(const version *v, int level, const file_meta *g, uint64_t snap,
                               int *at) {
  for (int l = 0; l <= level; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      file_meta *f = v->files[l][i];
      if (carries_deletes(f, snap) && files_overlap(v->cmp, f, g)) {
        *at = l;
        return f;
      }
    }
  return NULL;
}

/* Over the files suggestions marked, shallowest first, the deletes go down a level per pick
 * and are dropped, with what they hide, at the bottom (or where nothing lies below them);
 * the marks at every level keep the chain going until they reach it. A mark is cleared once
 * nothing can carry deletes over it, neither a table nor a memtable about to become one: a
 * snapshot pins them, or they were too few. So a mark never makes the picker spin. */
static int pick_suggested(shale_db *db, compaction *c, uint64_t snap) SH_REQUIRES(db->mu) {
  version *v = db_current_version(db);
  memtable_stats st;
  int waiting = db_view_under_mu(db)->imm_count > 0 || mem_carries_deletes(db, &st);
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++) {
      file_meta *g = v->files[l][i];
      if (!db_file_held(db, g)->dead_hint) continue;
      int at;
      file_meta *f = find_carrier(v, l, g, snap, &at);
      if (f) return push_deletes_down(db, c, at, f, CR_SUGGESTED);
      if (!waiting) db_file_held(db, g)->dead_hint = 0;
    }
  return 0;
}

static int any_marked(shale_db *db, const version *v) SH_REQUIRES(db->mu) {
  for (int l = 0; l < NUM_LEVELS; l++)
    for (int i = 0; i < v->nfiles[l]; i++)
      if (db_file_held(db, v->files[l][i])->dead_hint) return 1;
  return 0;
}

/* Marks the picker kept with no table to carry their deletes wait for the memtables. A
 * sealed one is flushed anyway; the mutable one is sealed once deletes pause (RocksDB's
 * memtable_op_scan_flush_trigger flushes a memtable its iterators find full of hidden
 * entries), or a drained queue would keep its last memtable's worth of values on disk until
 * some later write filled it. */
int compaction_hint_seal_wanted(shale_db *db, uint64_t *wake_us) {
  const db_mu_state *s = db_mu_held(db);
  if (s->bg_error || s->shutting_down || db_view_under_mu(db)->imm_count > 0) return 0;
  if (!any_marked(db, db_current_version(db))) return 0;
  memtable_stats st;
  if (!mem_carries_deletes(db, &st)) return 0;
  uint64_t due = st.newest_tomb_us + HINT_QUIET_US;
  if (due <= clock_wall_us()) return 1;
  *wake_us = due;
  return 0;
}

void compaction_exclusive_begin(shale_db *db) {
  db_mu_state *s = db_mu_held(db);
  while (s->manual_compaction || s->compaction_running) sh_cond_wait(&db->bg_cv, &db->mu);
  s->manual_compaction = 1;
}

void compaction_exclusive_end(shale_db *db) {
  db_mu_held(db)->manual_compaction = 0;
  pthread_cond_broadcast(&db->bg_cv);
}

void compaction_state_free(shale_db *db) {
  sh_mutex_lock(&db->mu);
  for (int l = 0; l < NUM_LEVELS; l++) buf_free(&db_mu_held(db)->compact_ptr[l]);
  sh_mutex_unlock(&db->mu);
}

int compaction_pick(shale_db *db, compaction *c) {
  memset(c, 0, sizeof *c);
  const db_mu_state *s = db_mu_held(db);
  if (s->compaction_running || s->bg_error) return 0;
  c->smallest_snapshot = db_oldest_snapshot(db);
  /* A delete past its share of the deadline goes first: under steady writes the size
   * scores never fall below 1, and the deadline must hold anyway. */
  int rc = pick_delete_file(db, c, c->smallest_snapshot, 1);
  double score;
  int level = best_size_level(db, &score);
  /* Size work that holds writers back (L0 at its trigger) or leaves a level far over its
   * target goes before suggestions. The rest waits behind them: each suggested compaction
   * frees space and moves data down the levels it passes, and the marks that feed them come
   * once per SUGGEST_HIDDEN_KEYS hidden keys and are cleared when they cannot progress. */
  int urgent =
      level >= 0 && (db_current_version(db)->nfiles[0] >= db->opt.level0_compaction_trigger ||
                     score >= SIZE_URGENT_SCORE);
  if (rc == 0 && urgent) rc = pick_by_size(db, c, level);
  if (rc == 0) rc = pick_suggested(db, c, c->smallest_snapshot);
  if (rc == 0) rc = pick_by_size(db, c, level);
  if (rc == 0) rc = pick_delete_file(db, c, c->smallest_snapshot, 0);
  if (rc != 1) compaction_free(c);
  return rc == 1;
}

/* f has a key in [b, e) (NULL: unbounded): shale_compact_range's end is exclusive, unlike the
 * closed ranges overlaps() compares files with. */
static int in_range(const shale_comparator *cmp, const file_meta *f, const void *b, size_t bl,
                    const void *e, size_t el) {
  size_t sl, ll;
  const uint8_t *s = ukey_of(&f->smallest, &sl), *l = ukey_of(&f->largest, &ll);
  return (!e || ukey_cmp(cmp, s, sl, e, el) < 0) && (!b || ukey_cmp(cmp, l, ll, b, bl) >= 0);
}

int compaction_pick_range(shale_db *db, int level, int out_level, const void *begin, size_t blen,
                          const void *end, size_t elen, compaction *c) {
  memset(c, 0, sizeof *c);
  c->smallest_snapshot = db_oldest_snapshot(db);
  c->level = level;
  c->out_level = out_level;
  c->reason = CR_MANUAL;
  version *v = db_current_version(db);
  int any = 0, deletes = 0;
  for (int i = 0; i < v->nfiles[level]; i++) {
    const file_meta *f = v->files[level][i];
    if (!in_range(v->cmp, f, begin, blen, end, elen)) continue;
    any = 1;
    deletes |= f->point_tombstones + f->range_tombstones > 0;
  }
  /* Rewriting the bottom in place only pays when there are deletes to purge, or a
   * compaction filter to offer the values to (RocksDB's kIfHaveCompactionFilter); and then
   * every file in the range goes, since outputs are cut by size, not at skipped files'
   * bounds. */
  if (level == out_level && !deletes && !db->opt.compaction_filter) any = 0;
  for (int i = 0; any && i < v->nfiles[level]; i++) { /* L0: all, since its files overlap */
    file_meta *f = v->files[level][i];
    if (level != 0 && !in_range(v->cmp, f, begin, blen, end, elen)) continue;
    if (add_input(c, 0, f)) return SHALE_NOMEM;
  }
  if (!c->n[0]) return 0;
  return add_overlaps(db, c) ? SHALE_NOMEM : 1;
}
