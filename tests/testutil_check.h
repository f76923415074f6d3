/* testutil_check.h — cmocka checks several tests share (testutil.h holds the fixtures that
 * the stress and metamorphic programs, which have no cmocka, share too). */
#ifndef SHALE_TESTS_TESTUTIL_CHECK_H
#define SHALE_TESTS_TESTUTIL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "shale.h"

/* The numeric property name of db; the test fails if it is missing. */
uint64_t tu_property_u64(shale_db *db, const char *name);
/* Walks a at snapshot sa and b at sb (NULL: their latest state) side by side and fails at the
 * first key or value that differs, naming the key; returns the keys both hold. */
size_t tu_assert_same_scan(shale_db *a, const shale_snapshot *sa, shale_db *b,
                           const shale_snapshot *sb);

#endif
