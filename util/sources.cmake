list(APPEND SHALE_SOURCES util/buf.c util/error.c util/checksum.c util/ikey.c util/histogram.c
  util/range_tomb.c)
# checksum32_block's AVX2 path (util/checksum.c): one file built for AVX2, used only on CPUs
# that have it.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  list(APPEND SHALE_SOURCES util/checksum_avx2.c)
  set_source_files_properties(util/checksum_avx2.c PROPERTIES COMPILE_OPTIONS -mavx2
    COMPILE_DEFINITIONS SHALE_CHECKSUM_AVX2)
  set_source_files_properties(util/checksum.c PROPERTIES COMPILE_DEFINITIONS SHALE_CHECKSUM_AVX2)
endif()
