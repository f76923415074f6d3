/* header_check.c — include/shale.h and include/shale/leveldb/c.h must compile as strict C11
 * with -Wall -Wextra -pedantic (built by ShaleHeaderCheck.cmake, never linked). */
#include <shale.h>
#include <shale/leveldb/c.h>

#if SHALE_VERSION_MAJOR < 0 || SHALE_VERSION_MINOR < 0 || SHALE_VERSION_PATCH < 0
#error "SHALE_VERSION_* must be integer constants usable in #if"
#endif

int shale_header_check_c(void);
int shale_header_check_c(void) {
  shale_options o;
  shale_options_init(&o);
  leveldb_options_t *lo = NULL;
  return (int)sizeof o + SHALE_OK + (lo == NULL) + leveldb_no_compression;
}
