/* header_check.c — include/shale.h must compile alone as strict C11 with -Wall -Wextra
 * -pedantic (built by ShaleHeaderCheck.cmake, never linked). */
#include <shale.h>

#if SHALE_VERSION_MAJOR < 0 || SHALE_VERSION_MINOR < 0 || SHALE_VERSION_PATCH < 0
#error "SHALE_VERSION_* must be integer constants usable in #if"
#endif

int shale_header_check_c(void);
int shale_header_check_c(void) {
  shale_options o;
  shale_options_init(&o);
  return (int)sizeof o + SHALE_OK;
}
