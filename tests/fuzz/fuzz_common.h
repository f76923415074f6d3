/* fuzz_common.h — helpers shared by the fuzz targets: a private scratch directory per
 * process (removed at exit) and writing the input to a file there. Each target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (clang) or with fuzz_driver.c
 * (any compiler), which runs it over a corpus and random mutations. */
#ifndef SHALE_TESTS_FUZZ_COMMON_H
#define SHALE_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The process's scratch directory (created on first use): under $SHALE_FUZZ_TMPDIR, else
 * /dev/shm when writable, else $TMPDIR or /tmp. */
const char *fuzz_dir(void);
/* fuzz_dir()/name, in a static buffer overwritten by the next call. */
const char *fuzz_path(const char *name);
/* Writes data to fuzz_dir()/name (replacing it); returns its path (see fuzz_path). */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* Removes every file under path (and path itself). */
void fuzz_rmrf(const char *path);
/* A failed check: prints and aborts, which both libFuzzer and the driver report. */
#define FUZZ_CHECK(cond, ...)                                \
  do {                                                       \
    if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#endif
