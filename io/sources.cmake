list(APPEND SHALE_SOURCES io/io_writer.c io/io_file.c io/io_env.c io/io_fs.c io/io_map_guard.c)
