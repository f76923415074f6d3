list(APPEND SHALE_SOURCES
  sstable/block.c
  sstable/block_cache.c
  sstable/bloom.c
  sstable/sst_approx.c
  sstable/sst_builder.c
  sstable/sst_external.c
  sstable/sst_format.c
  sstable/sst_reader.c
  sstable/table_cache.c
  sstable/zstd_dict.c)
