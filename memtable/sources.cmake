list(APPEND SHALE_SOURCES memtable/arena.c memtable/skiplist.c memtable/memtable.c
  memtable/mem_rdel.c)
