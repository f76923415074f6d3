/* stress_expected.c — the expected-state oracle of shale-stress: a file mapped MAP_SHARED
 * (so a child killed with SIGKILL leaves its last word in the page cache for the parent),
 * holding counters, one slot per key and the power-loss history; and the key and value
 * encodings every check decodes. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

const char *const counter_names[C_MAX] = {
    [C_PUT] = "put",
    [C_DELETE] = "delete",
    [C_DELETE_RANGE] = "delete_range",
    [C_BATCH] = "batch",
    [C_GET] = "get",
    [C_ITERATE] = "iterate",
    [C_SNAPSHOT] = "snapshot",
    [C_DELETE_RUN] = "delete_run",
    [C_POP] = "pop",
    [C_BOUNDED] = "bounded_iterate",
    [C_SNAPSHOT_RUN] = "snapshot_run",
    [C_REVIVE] = "revive",
    [C_INGEST] = "ingest",
    [C_READ_ONLY] = "read_only",
    [C_WAL_TAIL] = "wal_tail",
    [C_WAL_GONE] = "wal_gone",
    [C_SPAN_JUMPS] = "span_jumps",
    [C_KEYS_VERIFIED] = "keys_verified",
    [C_PENDING_SEEN] = "pending_after_crash",
    [C_PENDING_NEW] = "pending_landed",
    [C_VIOLATIONS] = "violations",
    [C_ERRORS] = "errors",
    [C_CYCLES] = "cycles",
    [C_KILLS_TIMER] = "kills_timer",
    [C_KILLS_HOOK] = "kills_hook",
    [C_KILLS_RECOVERY] = "kills_in_recovery",
    [C_KILLS_AFTER_OPEN] = "recovery_kills_after_open",
    [C_POWERLOSS] = "power_losses",
    [C_LOST_UNSYNCED] = "unsynced_ops_lost",
    [C_NO_WAL] = "no_wal_writes",
    [C_GET_THREAD] = "get_per_thread",
    [C_REOPENS] = "clean_reopens",
    [C_DELETES_CHECKED] = "deletes_checked_on_disk",
    [C_CHECKPOINT] = "checkpoints",
    [C_FILTERED] = "filter_changes",
};

static size_t map_size(uint32_t nkeys) {
  size_t slots = ((size_t)nkeys * sizeof(uint64_t) + 4095) & ~(size_t)4095;
  return STATE_HEADER + slots + (size_t)HIST_CAP * sizeof(hist_entry);
}

int expected_open(expected *e, const char *path, uint32_t nkeys, int fresh) {
  _Static_assert(sizeof(state_header) <= STATE_HEADER, "state header too large");
  memset(e, 0, sizeof *e);
  int fd = open(path, O_RDWR | O_CREAT | (fresh ? O_TRUNC : 0), 0644);
  if (fd < 0) {
    fprintf(stderr, "shale-stress: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t len = map_size(nkeys);
  if (ftruncate(fd, (off_t)len)) {
    fprintf(stderr, "shale-stress: ftruncate %s: %s\n", path, strerror(errno));
    close(fd);
    return -1;
  }
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    fprintf(stderr, "shale-stress: mmap %s: %s\n", path, strerror(errno));
    return -1;
  }
  e->h = p;
  e->slots = (_Atomic uint64_t *)((char *)p + STATE_HEADER);
  e->hist = (hist_entry *)((char *)p + len - (size_t)HIST_CAP * sizeof(hist_entry));
  e->map_len = len;
  if (fresh) {
    e->h->magic = STATE_MAGIC;
    e->h->nkeys = nkeys;
  } else if (e->h->magic != STATE_MAGIC || e->h->nkeys != nkeys) {
    fprintf(stderr, "shale-stress: %s is not a state file for %u keys\n", path, nkeys);
    expected_close(e);
    return -1;
  }
  return 0;
}

void expected_close(expected *e) {
  if (e->h) munmap(e->h, e->map_len);
  e->h = NULL;
}

void key_of(uint32_t k, char out[KEY_LEN + 1]) { snprintf(out, KEY_LEN + 1, "k%08u", k); }

long key_index(const void *key, size_t klen, uint32_t nkeys) {
  const char *p = key;
  if (klen != KEY_LEN || p[0] != 'k') return -1;
  long v = 0;
  for (int i = 1; i < KEY_LEN; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v < (long)nkeys ? v : -1;
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

#define VALUE_HEAD 19 /* "k%08u:%08x:" */

static size_t fill_len(uint32_t k, uint32_t gen, int value_size) {
  return value_size > 0 ? (size_t)(mix(((uint64_t)k << 32) | gen) % (uint64_t)(value_size + 1)) : 0;
}

size_t value_of(uint32_t k, uint32_t gen, int value_size, char *out, size_t cap) {
  size_t n = fill_len(k, gen, value_size);
  if (VALUE_HEAD + n + 1 > cap) n = cap - VALUE_HEAD - 1;
  snprintf(out, VALUE_HEAD + 1, "k%08u:%08x:", k, gen);
  for (size_t i = 0; i < n; i++) out[VALUE_HEAD + i] = (char)('a' + (k * 7u + gen * 13u + i) % 26);
  return VALUE_HEAD + n;
}

long value_gen(uint32_t k, const void *v, size_t vlen, int value_size) {
  const char *p = v;
  if (vlen < VALUE_HEAD || p[0] != 'k' || p[9] != ':' || p[18] != ':') return -1;
  char head[VALUE_HEAD + 1];
  memcpy(head, p, VALUE_HEAD);
  head[VALUE_HEAD] = 0;
  unsigned kk, gen;
  if (sscanf(head, "k%8u:%8x:", &kk, &gen) != 2 || kk != k || gen > SLOT_GEN_MASK) return -1;
  size_t n = fill_len(k, gen, value_size);
  if (vlen != VALUE_HEAD + n) return -1;
  for (size_t i = 0; i < n; i++)
    if (p[VALUE_HEAD + i] != (char)('a' + (k * 7u + gen * 13u + i) % 26)) return -1;
  return (long)gen;
}

static int matches(uint32_t gen, int exists, observed o) {
  return exists ? (o.found && o.gen == gen) : !o.found;
}

int slot_allows(uint64_t s, observed o) {
  if (matches(slot_gen(s), slot_exists(s), o)) return 1;
  return slot_pending(s) && matches(slot_new_gen(s), slot_new_exists(s), o);
}

int window_allows(uint64_t pre, uint64_t post, observed o) {
  if (slot_allows(pre, o) || slot_allows(post, o)) return 1;
  uint32_t lo = slot_gen(pre), hi = slot_pending(post) ? slot_new_gen(post) : slot_gen(post);
  /* states strictly between lo and hi are unknown here: any generation among them, or absent */
  if (hi <= lo + 1) return 0;
  return o.found ? (o.gen > lo && o.gen < hi) : 1;
}

void violation(expected *e, const char *fmt, ...) {
  uint64_t n = atomic_fetch_add(&e->h->counters[C_VIOLATIONS], 1);
  if (n >= 20) return; /* counted, not printed */
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "VIOLATION (pid %d): %s\n", (int)getpid(), msg);
}

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The clock shale.deletes-persisted-before-us is on. */
uint64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t rnd(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}
