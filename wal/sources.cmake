list(APPEND SHALE_SOURCES wal/wal_writer.c wal/wal_reader.c)
