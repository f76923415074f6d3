/* testutil.h — fixtures shared by the tests: fresh temp directories removed afterwards,
 * and small file helpers for corrupting and truncating real files. */
#ifndef SHALE_TESTS_TESTUTIL_H
#define SHALE_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"

/* shale_options_init, then what the suite's environment asks for: SHALE_IO=pwrite sets
 * io_mode to SHALE_IO_PWRITE, SHALE_MMAP=0 sets use_mmap to 0, SHALE_MANIFEST_ROLL_BYTES sets
 * manifest_roll_bytes; env is the fault-injecting env (fault_env.h), which only passes the
 * calls on until a test arms a fault. The library reads no environment variable: the tests open
 * their DBs with these options so that scripts/test.sh's second pass runs them on plain system
 * calls. */
void tu_options_init(shale_options *o);
/* Options from tu_options_init, for a test that has nothing to change (in place of NULL). */
const shale_options *tu_default_options(void);

/* Creates a fresh directory under $TMPDIR (or /tmp) and returns its malloc'd path. */
char *tu_tempdir(void);
/* Removes path and everything under it; NULL is ignored. Frees nothing. */
void tu_rmrf(const char *path);
/* Convenience: tu_rmrf(path) then free(path). */
void tu_tempdir_free(char *path);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
/* Flips bit `bit` (0-7) of byte `offset` of a file; returns 0 on success. */
int tu_flip_bit(const char *path, long long offset, int bit);
/* Truncates a file to len bytes; returns 0 on success. */
int tu_truncate(const char *path, long long len);
/* Copies a file; returns 0 on success. */
int tu_copy_file(const char *from, const char *to);
/* Copies every file of directory `from` but LOCK into the existing directory `to` (a DB's
 * files, to damage or reopen a copy); returns 0 on success. */
int tu_copy_dir(const char *from, const char *to);
/* Entries of dir whose names end in suffix (".sst", ".log"), or -1 if dir cannot be read. */
int tu_count_suffix(const char *dir, const char *suffix);
/* Joins dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);
/* Deterministic PRNG for tests (xorshift64*). */
uint64_t tu_rand(uint64_t *state);
/* How long a load test runs: SHALE_STRESS_SECONDS, default 5. */
double tu_stress_seconds(void);
/* A monotonic clock, in seconds. */
double tu_now_s(void);
/* A shale_comparator compare function in bytewise order (the default order, given through
 * the comparator API); arg is unused. An empty key may come as NULL, so memcmp only ever
 * sees a non-empty prefix. */
int tu_cmp_bytewise(void *arg, const void *a, size_t alen, const void *b, size_t blen);
/* The reverse of tu_cmp_bytewise. */
int tu_cmp_reverse(void *arg, const void *a, size_t alen, const void *b, size_t blen);

#endif
