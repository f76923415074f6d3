/* listeners.c — the queue and the thread behind shale_options.listener. Posting happens
 * inside flushes, compactions, the write path and version unrefs, often under mu or
 * manifest_mu; delivery happens on this module's own thread with none of them held, so a
 * callback can write, read, flush or compact the same DB without waiting on itself. */
#include "engine/listeners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db_log.h"
#include "engine/filename.h"
#include "engine/property.h"
#include "util/thread_annotations.h"

enum event_kind {
  EV_FLUSH_BEGIN,
  EV_FLUSH_END,
  EV_COMPACTION_BEGIN,
  EV_COMPACTION_END,
  EV_TABLE_CREATED,
  EV_TABLE_DELETED,
  EV_STALL_BEGIN,
  EV_STALL_END,
  EV_BG_ERROR,
  EV_PERSISTED
};

typedef struct event {
  struct event *next;
  enum event_kind kind;
  union {
    shale_flush_info flush;
    shale_compaction_info compaction;
    shale_table_file_info table; /* path filled at delivery */
    int reason;
    int status;
    uint64_t before_us;
  } u;
  char message[ERRMSG_SIZE]; /* EV_BG_ERROR only */
} event;

/* The fields a db_listeners' mu guards, reached only through queue_held(). */
typedef struct listener_queue {
  event *head, *tail;
  int stop, closed, started;
  uint64_t lost;         /* events dropped for want of memory */
  uint64_t persisted_us; /* the last before_us posted */
} listener_queue;

struct db_listeners {
  shale_event_listener cb;
  sh_mutex mu; /* a leaf lock */
  listener_queue under_mu;
  pthread_cond_t cv;
  pthread_t thread;
};

static inline listener_queue *queue_held(struct db_listeners *L) SH_REQUIRES(L->mu) {
  return &L->under_mu;
}

static void deliver(shale_db *db, const shale_event_listener *cb, event *e) {
  char path[FILENAME_MAX_LEN];
  switch (e->kind) {
    case EV_FLUSH_BEGIN:
      if (cb->on_flush_begin) cb->on_flush_begin(cb->arg, db, &e->u.flush);
      break;
    case EV_FLUSH_END:
      if (cb->on_flush_end) cb->on_flush_end(cb->arg, db, &e->u.flush);
      break;
    case EV_COMPACTION_BEGIN:
      if (cb->on_compaction_begin) cb->on_compaction_begin(cb->arg, db, &e->u.compaction);
      break;
    case EV_COMPACTION_END:
      if (cb->on_compaction_end) cb->on_compaction_end(cb->arg, db, &e->u.compaction);
      break;
    case EV_TABLE_CREATED:
    case EV_TABLE_DELETED: {
      shale_table_file_info info = e->u.table;
      filename_table(path, db->path, info.file_number);
      info.path = path;
      if (e->kind == EV_TABLE_CREATED && cb->on_table_file_created)
        cb->on_table_file_created(cb->arg, db, &info);
      if (e->kind == EV_TABLE_DELETED && cb->on_table_file_deleted)
        cb->on_table_file_deleted(cb->arg, db, &info);
      break;
    }
    case EV_STALL_BEGIN:
      if (cb->on_stall_begin) cb->on_stall_begin(cb->arg, db, e->u.reason);
      break;
    case EV_STALL_END:
      if (cb->on_stall_end) cb->on_stall_end(cb->arg, db, e->u.reason);
      break;
    case EV_BG_ERROR:
      if (cb->on_background_error) cb->on_background_error(cb->arg, db, e->u.status, e->message);
      break;
    case EV_PERSISTED:
      if (cb->on_deletes_persisted) cb->on_deletes_persisted(cb->arg, db, e->u.before_us);
      break;
  }
}

static void *deliver_main(void *arg) {
  shale_db *db = arg;
  struct db_listeners *L = db->listeners;
  sh_mutex_lock(&L->mu);
  for (;;) {
    listener_queue *q = queue_held(L);
    while (!q->head && !q->stop) sh_cond_wait(&L->cv, &L->mu);
    event *e = q->head;
    if (!e) break; /* stopping, and all delivered */
    q->head = e->next;
    if (!q->head) q->tail = NULL;
    sh_mutex_unlock(&L->mu);
    deliver(db, &L->cb, e);
    free(e);
    sh_mutex_lock(&L->mu);
  }
  sh_mutex_unlock(&L->mu);
  return NULL;
}

static int any_callback(const shale_event_listener *cb) {
  return cb->on_flush_begin || cb->on_flush_end || cb->on_compaction_begin ||
         cb->on_compaction_end || cb->on_table_file_created || cb->on_table_file_deleted ||
         cb->on_stall_begin || cb->on_stall_end || cb->on_background_error ||
         cb->on_deletes_persisted;
}

int listeners_open(shale_db *db, const shale_event_listener *src, char *errmsg) {
  if (!src || db->opt.read_only) return SHALE_OK;
  shale_event_listener cb = {0};
  if (src->size > sizeof cb || src->size < offsetof(shale_event_listener, on_flush_begin))
    return err_set(errmsg, SHALE_INVALID, "listener.size %zu: set it to sizeof the struct",
                   src->size);
  memcpy(&cb, src, src->size);
  if (!any_callback(&cb)) return SHALE_OK;
  struct db_listeners *L = calloc(1, sizeof *L);
  if (!L) return err_set(errmsg, SHALE_NOMEM, "out of memory starting the listener");
  L->cb = cb;
  sh_mutex_init(&L->mu);
  pthread_cond_init(&L->cv, NULL);
  db->listeners = L;
  if (pthread_create(&L->thread, NULL, deliver_main, db))
    return err_set(errmsg, SHALE_NOMEM, "cannot start the listener thread");
  sh_mutex_lock(&L->mu); /* the delivery thread runs now */
  queue_held(L)->started = 1;
  sh_mutex_unlock(&L->mu);
  return SHALE_OK;
}

void listeners_stop(shale_db *db) {
  struct db_listeners *L = db->listeners;
  if (!L) return;
  sh_mutex_lock(&L->mu);
  listener_queue *q = queue_held(L);
  int join = q->started && !q->stop;
  q->stop = 1;
  pthread_cond_broadcast(&L->cv);
  sh_mutex_unlock(&L->mu);
  if (join) pthread_join(L->thread, NULL);
  sh_mutex_lock(&L->mu);
  q = queue_held(L);
  q->closed = 1;
  uint64_t lost = q->lost;
  sh_mutex_unlock(&L->mu);
  if (lost) db_log(db, "listener: %llu events lost for want of memory", (unsigned long long)lost);
}

void listeners_free(shale_db *db) {
  struct db_listeners *L = db->listeners;
  if (!L) return;
  listeners_stop(db);
  sh_mutex_lock(&L->mu); /* the thread is gone: held for the rule on the queue */
  for (event *e = queue_held(L)->head, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  sh_mutex_unlock(&L->mu);
  sh_mutex_destroy(&L->mu);
  pthread_cond_destroy(&L->cv);
  free(L);
  db->listeners = NULL;
}

/* A new event of kind, or NULL when nobody listens (or memory ran out: counted). */
static event *event_new(shale_db *db, enum event_kind kind) {
  if (!db->listeners) return NULL;
  event *e = calloc(1, sizeof *e);
  if (e) {
    e->kind = kind;
    return e;
  }
  sh_mutex_lock(&db->listeners->mu);
  queue_held(db->listeners)->lost++;
  sh_mutex_unlock(&db->listeners->mu);
  return NULL;
}

static void enqueue(struct db_listeners *L, event *e) SH_REQUIRES(L->mu) {
  listener_queue *q = queue_held(L);
  if (q->closed || q->stop) {
    free(e);
    return;
  }
  if (q->tail)
    q->tail->next = e;
  else
    q->head = e;
  q->tail = e;
  pthread_cond_signal(&L->cv);
}

static void post(shale_db *db, event *e) {
  if (!e) return;
  sh_mutex_lock(&db->listeners->mu);
  enqueue(db->listeners, e);
  sh_mutex_unlock(&db->listeners->mu);
}

void listeners_flush_begin(shale_db *db, uint64_t number, uint64_t memtable_bytes) {
  event *e = event_new(db, EV_FLUSH_BEGIN);
  if (!e) return;
  e->u.flush.file_number = number;
  e->u.flush.memtable_bytes = memtable_bytes;
  post(db, e);
}

static void table_created(shale_db *db, const file_meta *f, int level) {
  event *e = event_new(db, EV_TABLE_CREATED);
  if (!e) return;
  e->u.table.file_number = f->number;
  e->u.table.file_size = f->file_size;
  e->u.table.level = level;
  post(db, e);
}

void listeners_flush_end(shale_db *db, uint64_t number, uint64_t memtable_bytes, const file_meta *f,
                         int status) {
  event *e = event_new(db, EV_FLUSH_END);
  if (!e) return;
  shale_flush_info *i = &e->u.flush;
  i->file_number = number;
  i->memtable_bytes = memtable_bytes;
  i->status = status;
  if (f && !status) {
    i->entries = f->entries;
    i->tombstones = f->point_tombstones + f->range_tombstones;
    i->file_size = f->file_size;
  }
  post(db, e);
  if (f && !status) table_created(db, f, 0);
}

void listeners_compaction_info(const compaction *c, int trivial_move, shale_compaction_info *info) {
  *info = (shale_compaction_info){.input_level = c->level,
                                  .output_level = c->out_level,
                                  .input_files = c->n[0],
                                  .output_level_files = c->n[1],
                                  .trivial_move = trivial_move};
}

void listeners_compaction_begin(shale_db *db, const shale_compaction_info *info) {
  event *e = event_new(db, EV_COMPACTION_BEGIN);
  if (!e) return;
  e->u.compaction = *info;
  post(db, e);
}

void listeners_compaction_end(shale_db *db, const shale_compaction_info *info,
                              const version_edit *outputs) {
  event *e = event_new(db, EV_COMPACTION_END);
  if (!e) return;
  e->u.compaction = *info;
  post(db, e);
  for (int i = 0; outputs && i < outputs->nadded; i++)
    table_created(db, outputs->added[i].f, outputs->added[i].level);
}

void listeners_table_deleted(shale_db *db, uint64_t number, uint64_t file_size) {
  event *e = event_new(db, EV_TABLE_DELETED);
  if (!e) return;
  e->u.table.file_number = number;
  e->u.table.file_size = file_size;
  e->u.table.level = -1;
  post(db, e);
}

void listeners_stall(shale_db *db, int end, int reason) {
  event *e = event_new(db, end ? EV_STALL_END : EV_STALL_BEGIN);
  if (!e) return;
  e->u.reason = reason;
  post(db, e);
}

void listeners_background_error(shale_db *db, int status, const char *message) {
  event *e = event_new(db, EV_BG_ERROR);
  if (!e) return;
  e->u.status = status;
  snprintf(e->message, sizeof e->message, "%s", message ? message : shale_strerror(status));
  post(db, e);
}

/* The comparison and the enqueue share one critical section, so the values reach the
 * callback in increasing order whichever thread computed them. */
void listeners_check_persisted(shale_db *db, read_view *v) {
  struct db_listeners *L = db->listeners;
  if (!L || !L->cb.on_deletes_persisted) return;
  uint64_t us = db_deletes_persisted_before(v);
  event *e = event_new(db, EV_PERSISTED);
  if (!e) return;
  e->u.before_us = us;
  sh_mutex_lock(&L->mu);
  listener_queue *q = queue_held(L);
  if (us > q->persisted_us) {
    q->persisted_us = us;
    enqueue(L, e);
  } else {
    free(e);
  }
  sh_mutex_unlock(&L->mu);
}
