/* file_numbers.h — the one counter that names a DB's files (engine/file_numbers.c). WALs,
 * tables and MANIFESTs share it, and only these functions move it, so no two files of a DB
 * ever get the same number and a reopen never reuses one a MANIFEST edit may name. */
#ifndef SHALE_ENGINE_FILE_NUMBERS_H
#define SHALE_ENGINE_FILE_NUMBERS_H

#include <stdint.h>

#include "engine/db_impl.h"

/* Starts the counter of a new handle at 1: file number 0 names nothing (filename.h). */
void db_file_numbers_start(shale_db *db) SH_EXCLUDES(db->mu);
/* A number no file of the DB has had; the counter moves past it. */
uint64_t db_take_file_number(shale_db *db) SH_REQUIRES(db->mu);
/* The same, for a caller that does not hold mu (takes it for the increment only). */
uint64_t db_new_file_number(shale_db *db) SH_EXCLUDES(db->mu);
/* The number the next take would return: what a MANIFEST edit records as the next file, so
 * that a reopen starts above every file the edit can name. */
uint64_t db_peek_file_number(shale_db *db) SH_EXCLUDES(db->mu);
/* Moves the counter past n, when recovery finds file n (or a MANIFEST that counted past it). */
void db_file_number_past(shale_db *db, uint64_t n) SH_EXCLUDES(db->mu);

#endif /* SHALE_ENGINE_FILE_NUMBERS_H */
