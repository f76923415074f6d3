// header_check.cpp — include/shale.h and include/shale/leveldb/c.h must compile as C++ with
// -Wall -Wextra -pedantic and give C linkage (built by ShaleHeaderCheck.cmake, never linked).
#include <shale.h>
#include <shale/leveldb/c.h>

int shale_header_check_cxx();
int shale_header_check_cxx() {
  shale_options o;
  shale_options_init(&o);
  shale_db *db = nullptr;
  const char *v = shale_version();
  leveldb_t *ldb = nullptr;
  return static_cast<int>(sizeof o) + (db == nullptr) + (v != nullptr) + SHALE_NOTFOUND +
         (ldb == nullptr) + leveldb_snappy_compression;
}
