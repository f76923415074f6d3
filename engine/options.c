/* options.c — option defaults and validation, error names, the version string. */
#include "engine/options.h"

#include <string.h>

#include "engine/version_set.h"
#include "io/io_env.h"
#include "sstable/sst_format.h"

const char *shale_version(void) { return SHALE_VERSION_STRING; }

void shale_options_init(shale_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->create_if_missing = 1;
  o->write_buffer_size = 64u << 20;
  o->block_cache_size = 64u << 20;
  o->bloom_bits_per_key = 10;
  o->compression = SHALE_COMPRESSION_ZSTD;
  o->max_background_jobs = 2;
  o->block_size = 4096;
  o->wal_recovery_mode = SHALE_WAL_RECOVER_STRICT;
  o->max_open_files = 1000;
  o->max_immutable_memtables = 4;
  o->level0_compaction_trigger = 4;
  o->level0_slowdown_trigger = 20;
  o->level0_stop_trigger = 36;
  o->max_bytes_for_level_base = 256u << 20;
  o->level_size_multiplier = 10;
  o->target_file_size = 64u << 20;
  o->compression_level = 3;
  o->compression_max_dict_bytes = SST_DICT_MAX_SIZE;
  o->io_mode = SHALE_IO_URING;
  o->use_mmap = 1;
  o->manifest_roll_bytes = MANIFEST_ROLL_BYTES;
}

int comparator_check(const shale_comparator *c, char *errmsg) {
  if (!c->compare) return err_set(errmsg, SHALE_INVALID, "comparator.compare is NULL");
  if (!c->name || !*c->name) return err_set(errmsg, SHALE_INVALID, "comparator.name is empty");
  if (strlen(c->name) > COMPARATOR_NAME_MAX)
    return err_set(errmsg, SHALE_INVALID, "comparator.name is longer than %d bytes",
                   COMPARATOR_NAME_MAX);
  if (!strncmp(c->name, "shale.", 6))
    return err_set(errmsg, SHALE_INVALID, "comparator.name \"%s\": \"shale.\" names are Shale's",
                   c->name);
  return SHALE_OK;
}

/* Copies the caller's options; a caller built against an older, smaller struct gets the
 * defaults for the fields it does not know. */
int options_copy_checked(shale_options *dst, const shale_options *src, char *errmsg) {
  shale_options_init(dst);
  if (!src) return SHALE_OK;
  if (src->size < offsetof(shale_options, block_size) || src->size > sizeof *src)
    return err_set(errmsg, SHALE_INVALID, "options.size %zu: call shale_options_init first",
                   src->size);
  memcpy(dst, src, src->size);
  dst->size = sizeof *dst;
  if (dst->write_buffer_size < 4096)
    return err_set(errmsg, SHALE_INVALID, "write_buffer_size %zu is below 4096",
                   dst->write_buffer_size);
  if (dst->compression != SHALE_COMPRESSION_NONE && dst->compression != SHALE_COMPRESSION_ZSTD)
    return err_set(errmsg, SHALE_INVALID, "compression %d is not NONE or ZSTD", dst->compression);
  if (dst->compression_level < -7 || dst->compression_level > 19)
    return err_set(errmsg, SHALE_INVALID, "compression_level %d not in -7..19",
                   dst->compression_level);
  if (dst->compression_max_dict_bytes > SST_DICT_MAX_SIZE)
    return err_set(errmsg, SHALE_INVALID,
                   "compression_max_dict_bytes %zu is over %u, the most a table can store",
                   dst->compression_max_dict_bytes, SST_DICT_MAX_SIZE);
  if (dst->compression_max_dict_bytes && dst->compression_zstd_max_train_bytes &&
      (dst->compression_zstd_max_train_bytes < dst->compression_max_dict_bytes ||
       dst->compression_zstd_max_train_bytes > SST_DICT_MAX_TRAIN_BYTES))
    return err_set(errmsg, SHALE_INVALID,
                   "compression_zstd_max_train_bytes %zu not 0 or in %zu..1Gi "
                   "(compression_max_dict_bytes..1Gi)",
                   dst->compression_zstd_max_train_bytes, dst->compression_max_dict_bytes);
  if (dst->bloom_bits_per_key < 0 || dst->bloom_bits_per_key > 64)
    return err_set(errmsg, SHALE_INVALID, "bloom_bits_per_key %d not in 0..64",
                   dst->bloom_bits_per_key);
  if (dst->max_background_jobs < 1 || dst->max_background_jobs > 64)
    return err_set(errmsg, SHALE_INVALID, "max_background_jobs %d not in 1..64",
                   dst->max_background_jobs);
  if (dst->block_size < 256 || dst->block_size > (64u << 20))
    return err_set(errmsg, SHALE_INVALID, "block_size %zu not in 256..64Mi", dst->block_size);
  if (dst->delete_persist_seconds < 0)
    return err_set(errmsg, SHALE_INVALID, "delete_persist_seconds is negative");
  if (!(dst->wal_retention_seconds >= 0)) /* NaN too */
    return err_set(errmsg, SHALE_INVALID, "wal_retention_seconds is negative");
  if (dst->io_mode != SHALE_IO_URING && dst->io_mode != SHALE_IO_PWRITE)
    return err_set(errmsg, SHALE_INVALID, "io_mode %d is not SHALE_IO_URING or SHALE_IO_PWRITE",
                   dst->io_mode);
  dst->use_mmap = dst->use_mmap != 0;
  if (dst->comparator && comparator_check(dst->comparator, errmsg)) return SHALE_INVALID;
  if (io_env_check(dst->env, errmsg)) return SHALE_INVALID;
  if (dst->manifest_roll_bytes == 0) dst->manifest_roll_bytes = MANIFEST_ROLL_BYTES;
  if (dst->max_immutable_memtables < 1) dst->max_immutable_memtables = 1;
  if (dst->max_open_files < 16) dst->max_open_files = 16;
  if (dst->level0_compaction_trigger < 1) dst->level0_compaction_trigger = 1;
  if (dst->level0_slowdown_trigger < dst->level0_compaction_trigger)
    dst->level0_slowdown_trigger = dst->level0_compaction_trigger;
  if (dst->level0_stop_trigger < dst->level0_slowdown_trigger)
    dst->level0_stop_trigger = dst->level0_slowdown_trigger;
  if (dst->level_size_multiplier < 2) dst->level_size_multiplier = 2;
  if (dst->target_file_size < (64u << 10)) dst->target_file_size = 64u << 10;
  if (dst->max_bytes_for_level_base < (1u << 20)) dst->max_bytes_for_level_base = 1u << 20;
  return SHALE_OK;
}

void shale_read_options_init(shale_read_options *ro) {
  if (!ro) return;
  memset(ro, 0, sizeof *ro);
  ro->size = sizeof *ro;
  ro->fill_cache = 1;
  ro->verify_checksums = 1;
}

unsigned read_options_flags(const shale_read_options *ro) {
  if (!ro || ro->size < READ_OPTIONS_V2_SIZE) return 0;
  return (ro->fill_cache ? 0 : SST_READ_NO_FILL_CACHE) |
         (ro->verify_checksums ? 0 : SST_READ_NO_VERIFY);
}

const char *shale_strerror(int rc) {
  switch (rc) {
    case SHALE_OK:
      return "SHALE_OK: success";
    case SHALE_NOTFOUND:
      return "SHALE_NOTFOUND: not found";
    case SHALE_INVALID:
      return "SHALE_INVALID: invalid argument";
    case SHALE_CORRUPTION:
      return "SHALE_CORRUPTION: data is corrupted";
    case SHALE_IOERR:
      return "SHALE_IOERR: I/O error";
    case SHALE_NOSPACE:
      return "SHALE_NOSPACE: no space left on device";
    case SHALE_NOMEM:
      return "SHALE_NOMEM: out of memory";
    case SHALE_BUSY:
      return "SHALE_BUSY: the database is locked by another handle or process";
    case SHALE_READONLY:
      return "SHALE_READONLY: the database is read-only (opened read_only, or after an error)";
    case SHALE_EXISTS:
      return "SHALE_EXISTS: the database already exists";
    case SHALE_NOTSUP:
      return "SHALE_NOTSUP: not supported";
    default:
      return "unknown error code";
  }
}
