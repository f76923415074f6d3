list(APPEND SHALE_SOURCES
  engine/background.c engine/bg_error.c engine/batch.c engine/approximate_sizes.c engine/checkpoint.c engine/compact_range.c engine/compaction.c
  engine/compaction_job.c engine/db.c engine/db_log.c engine/dead_spans.c engine/destroy.c engine/dir_check.c engine/errmsg.c engine/filename.c engine/file_numbers.c
  engine/flush.c engine/install.c engine/ingest.c engine/sst_writer.c
  engine/flush_job.c engine/get.c engine/lookup.c engine/iter.c engine/live_files.c engine/iter_sources.c engine/range_dels.c engine/level_iter.c
  engine/mem_insert.c engine/merge_iter.c engine/multi_get.c
  engine/options.c engine/property.c engine/read_view.c engine/recovery.c engine/repair.c engine/span_store.c engine/snapshot.c engine/span_warmup.c engine/statistics.c engine/table_get.c
  engine/version.c engine/version_edit.c engine/version_set.c engine/view_cache.c
  engine/updates.c engine/wal_retention.c engine/write.c
  engine/listeners.c engine/backup.c)
