list(APPEND SHALE_SOURCES util/buf.c util/error.c)
