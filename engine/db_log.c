/* db_log.c — the DB's info LOG: timestamped lines for people reading what the DB did, rotated
 * by size, and started afresh at open only after a clean close. Every engine file may log,
 * so this file depends on nothing above db_impl.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/db_log.h"
#include "engine/filename.h"
#include "io/io.h"
#include "io/io_fs.h"

/* The LOG is rotated by size so a long-running process cannot fill the disk with it. */
#define INFO_LOG_MAX_BYTES (8u << 20)

static void close_info_log_file(shale_db *db) SH_REQUIRES(db->log_mu) {
  db_log_state *l = db_log_held(db);
  if (l->info_log_fd >= 0) close(l->info_log_fd);
  l->info_log_fd = -1;
}

void db_log_init(shale_db *db) {
  sh_mutex_lock(&db->log_mu);
  db_log_held(db)->info_log_fd = -1;
  sh_mutex_unlock(&db->log_mu);
}

void db_log_close(shale_db *db) {
  sh_mutex_lock(&db->log_mu);
  close_info_log_file(db);
  sh_mutex_unlock(&db->log_mu);
}

/* append 0: the LOG starts empty. A LOG that cannot be opened leaves the DB without one: it
 * explains, it holds nothing the DB needs. */
static void open_info_log_file(shale_db *db, int append) SH_REQUIRES(db->log_mu) {
  char p[FILENAME_MAX_LEN];
  filename_join(p, db->path, "LOG");
  db_log_state *l = db_log_held(db);
  if (io_append_open(&db->io, p, !append, &l->info_log_fd, &l->info_log_bytes, NULL))
    l->info_log_fd = -1;
}

static void rotate_info_log(shale_db *db) SH_REQUIRES(db->log_mu) {
  char p[FILENAME_MAX_LEN], old[FILENAME_MAX_LEN];
  filename_join(p, db->path, "LOG");
  filename_join(old, db->path, "LOG.old");
  close_info_log_file(db);
  io_rename(&db->io, p, old, NULL);
  open_info_log_file(db, 0);
}

void db_log(shale_db *db, const char *fmt, ...) {
  char line[1024], text[1100];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(text, sizeof text, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %s\n", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
                   line);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
  sh_mutex_lock(&db->log_mu);
  db_log_state *l = db_log_held(db);
  if (l->info_log_fd >= 0 && l->info_log_bytes > INFO_LOG_MAX_BYTES) rotate_info_log(db);
  if (l->info_log_fd >= 0) {
    char path[FILENAME_MAX_LEN];
    filename_join(path, db->path, "LOG");
    if (io_append(&db->io, l->info_log_fd, path, text, len, NULL) == SHALE_OK)
      l->info_log_bytes += len;
  }
  sh_mutex_unlock(&db->log_mu);
}

/* The end of the LOG line a clean close writes (db_log adds the newline). */
#define CLEAN_CLOSE " closed\n"

/* Did the session that wrote the LOG at p end in a clean close? */
static int log_ended_cleanly(io_ctx *io, const char *p) {
  char tail[sizeof CLEAN_CLOSE - 1];
  return io_read_tail(io, p, tail, sizeof tail) && !memcmp(tail, CLEAN_CLOSE, sizeof tail);
}

/* A LOG starts afresh, the previous one kept as LOG.old, only after a clean close. After a
 * crash, a background error or a failed open the lines go on at its end instead, so what
 * explains the trouble outlives any number of failed opens (on a full disk, an open renaming
 * LOG each time left LOG and LOG.old empty). Rotation by size still bounds it. */
void db_log_open(shale_db *db) {
  char p[FILENAME_MAX_LEN], old[FILENAME_MAX_LEN];
  filename_join(p, db->path, "LOG");
  filename_join(old, db->path, "LOG.old");
  if (log_ended_cleanly(&db->io, p)) io_rename(&db->io, p, old, NULL);
  sh_mutex_lock(&db->log_mu); /* no other thread yet: held for the rule on the LOG's fields */
  open_info_log_file(db, 1);
  sh_mutex_unlock(&db->log_mu);
}
