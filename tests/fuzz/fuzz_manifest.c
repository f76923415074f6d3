/* fuzz_manifest.c — the MANIFEST side of recovery: edit_decode over the raw input (and, when
 * it decodes, encode -> decode must succeed again), then the input as a whole MANIFEST file
 * named by CURRENT, replayed by vset_recover (wal_reader + edit_decode + vset_apply). */
#include <string.h>

#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "fuzz_common.h"
#include "shale.h"
#include "util/buf.h"
#include "util/error.h"

static void no_reap(file_reaper *r, uint64_t number) { (void)r, (void)number; }

static void decode_edit(const uint8_t *data, size_t size) {
  char errmsg[ERRMSG_SIZE];
  version_edit e;
  edit_init(&e);
  int rc = edit_decode(&e, data, size, errmsg);
  FUZZ_CHECK(rc == SHALE_OK || rc == SHALE_CORRUPTION || rc == SHALE_NOMEM, "edit_decode: %d", rc);
  if (rc == SHALE_OK) {
    buf b;
    buf_init(&b);
    edit_encode(&e, &b);
    version_edit again;
    edit_init(&again);
    rc = edit_decode(&again, b.data, b.len, errmsg);
    FUZZ_CHECK(rc == SHALE_OK, "a decoded edit re-encodes to something undecodable: %s", errmsg);
    FUZZ_CHECK(again.nadded == e.nadded && again.ndeleted == e.ndeleted &&
                   again.has_last_seq == e.has_last_seq && again.last_seq == e.last_seq,
               "edit changed in an encode/decode round trip");
    edit_free(&again);
    buf_free(&b);
  }
  edit_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  decode_edit(data, size);
  fuzz_write("MANIFEST-000002", data, size);
  static const char current[] = "MANIFEST-000002\n";
  fuzz_write("CURRENT", (const uint8_t *)current, sizeof current - 1);
  file_reaper reaper = {no_reap};
  version_set vs;
  vset_init(&vs, NULL, fuzz_dir(), &reaper);
  if (vset_current_alone(&vs)) {
    int exists = 0;
    char errmsg[ERRMSG_SIZE];
    int rc = vset_recover(&vs, &exists, errmsg);
    FUZZ_CHECK(rc <= 0, "vset_recover returned %d", rc);
    if (rc == SHALE_OK) {
      FUZZ_CHECK(exists, "CURRENT was there");
      for (int l = 0; l < NUM_LEVELS; l++)
        for (int i = 0; i < vset_current_alone(&vs)->nfiles[l]; i++)
          FUZZ_CHECK(vset_current_alone(&vs)->files[l][i] != NULL, "a NULL file at L%d", l);
    }
    vset_close(&vs);
  }
  return 0;
}
