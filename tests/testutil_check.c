/* testutil_check.c — cmocka checks several tests share; see testutil_check.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "testutil_check.h"

uint64_t tu_property_u64(shale_db *db, const char *name) {
  char *v = NULL;
  assert_int_equal(shale_property(db, name, &v), SHALE_OK);
  uint64_t x = strtoull(v, NULL, 10);
  shale_free(v);
  return x;
}

size_t tu_assert_same_scan(shale_db *a, const shale_snapshot *sa, shale_db *b,
                           const shale_snapshot *sb) {
  shale_iter *ia, *ib;
  assert_int_equal(shale_iter_new(a, sa, &ia), SHALE_OK);
  assert_int_equal(shale_iter_new(b, sb, &ib), SHALE_OK);
  size_t n = 0;
  for (shale_iter_seek_first(ia), shale_iter_seek_first(ib);
       shale_iter_valid(ia) && shale_iter_valid(ib); shale_iter_next(ia), shale_iter_next(ib)) {
    size_t kla, klb, vla, vlb;
    const void *ka = shale_iter_key(ia, &kla), *kb = shale_iter_key(ib, &klb);
    const void *va = shale_iter_value(ia, &vla), *vb = shale_iter_value(ib, &vlb);
    if (kla != klb || memcmp(ka, kb, kla))
      fail_msg("key %zu differs: %.*s vs %.*s", n, (int)kla, (const char *)ka, (int)klb,
               (const char *)kb);
    assert_int_equal(vla, vlb);
    assert_memory_equal(va, vb, vla);
    n++;
  }
  assert_int_equal(shale_iter_valid(ia), shale_iter_valid(ib));
  assert_int_equal(shale_iter_status(ia), SHALE_OK);
  assert_int_equal(shale_iter_status(ib), SHALE_OK);
  shale_iter_free(ia);
  shale_iter_free(ib);
  return n;
}
