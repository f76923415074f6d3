/* install.c — the steps after a version edit reached the MANIFEST, shared by flush,
 * compaction and ingestion: publishing a read view with the new version, and starting a new
 * MANIFEST once the current one has grown too long. */
#include "engine/file_numbers.h"
#include "engine/db_log.h"
#include "engine/install.h"
#include "engine/listeners.h"
#include "engine/view_cache.h"

/* A MANIFEST is rolled once it is past its size limit, or past 1 MiB and eight times what
 * a fresh snapshot of the live files would take: a long run of small flushes and deletes
 * must not leave megabytes of history behind a nearly empty DB. */
static int manifest_due(shale_db *db) SH_REQUIRES(db->manifest_mu) {
  uint64_t size = wal_writer_size(db->vset.manifest);
  if (size >= db->opt.manifest_roll_bytes) return 1;
  uint64_t files = 0;
  for (int l = 0; l < NUM_LEVELS; l++)
    files += (uint64_t)db_current_version_under_manifest_mu(db)->nfiles[l];
  uint64_t snapshot = 256 + files * 160; /* a file record: ~100 bytes plus two keys */
  return size >= (1u << 20) && size >= 8 * snapshot;
}

void db_maybe_roll_manifest(shale_db *db) {
  if (!manifest_due(db)) return;
  sh_mutex_lock(&db->mu);
  uint64_t number = db_take_file_number(db);
  uint64_t next = number + 1;
  sh_mutex_unlock(&db->mu);
  char msg[ERRMSG_SIZE];
  if (vset_write_snapshot(&db->vset, number, next, msg))
    db_log(db, "starting a new MANIFEST failed, the old one stays in use: %s", msg);
  else
    db_log(db, "started MANIFEST-%06llu", (unsigned long long)number);
}

int db_publish_version(shale_db *db, int drop_oldest_imm) {
  read_view *cur = db_view_under_mu(db);
  read_view *v = db_view_new(db, cur->mem, cur->imm, cur->imm_count - (drop_oldest_imm ? 1 : 0),
                             db_current_version(db));
  if (!v) return SHALE_NOMEM;
  db_view_publish(db, v);
  listeners_check_persisted(db, v);
  return SHALE_OK;
}
