/* file_numbers.c — the counter that names a DB's files; see file_numbers.h. */
#include "engine/file_numbers.h"

void db_file_numbers_start(shale_db *db) {
  sh_mutex_lock(&db->mu);
  db_mu_held(db)->next_file_number = 1;
  sh_mutex_unlock(&db->mu);
}

uint64_t db_take_file_number(shale_db *db) { return db_mu_held(db)->next_file_number++; }

uint64_t db_new_file_number(shale_db *db) {
  sh_mutex_lock(&db->mu);
  uint64_t n = db_take_file_number(db);
  sh_mutex_unlock(&db->mu);
  return n;
}

uint64_t db_peek_file_number(shale_db *db) {
  sh_mutex_lock(&db->mu);
  uint64_t n = db_mu_held(db)->next_file_number;
  sh_mutex_unlock(&db->mu);
  return n;
}

void db_file_number_past(shale_db *db, uint64_t n) {
  sh_mutex_lock(&db->mu);
  if (n >= db_mu_held(db)->next_file_number) db_mu_held(db)->next_file_number = n + 1;
  sh_mutex_unlock(&db->mu);
}
