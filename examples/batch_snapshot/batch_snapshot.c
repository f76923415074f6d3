/* batch_snapshot.c — atomic batches and snapshots: move money between two accounts in one
 * batch, and read the state from before the transfer through a snapshot while the DB has
 * already moved on. usage: shale-example-batch-snapshot [DB_DIR] */
#include <shale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                       \
  do {                                                                                    \
    int rc_ = (call);                                                                     \
    if (rc_ != SHALE_OK) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, shale_strerror(rc_), #call); \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

/* Reads an account balance as of @p snap (NULL: latest); -1 when the account is absent. */
static long balance(shale_db *db, const shale_snapshot *snap, const char *account) {
  void *val;
  size_t vlen;
  int rc = shale_get(db, snap, account, strlen(account), &val, &vlen);
  if (rc == SHALE_NOTFOUND) return -1;
  CHECK(rc);
  char text[32];
  snprintf(text, sizeof text, "%.*s", (int)vlen, (char *)val);
  shale_free(val);
  return strtol(text, NULL, 10);
}

static void batch_put_balance(shale_batch *b, const char *account, long amount) {
  char text[32];
  int n = snprintf(text, sizeof text, "%ld", amount);
  CHECK(shale_batch_put(b, account, strlen(account), text, (size_t)n));
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/shale-batch-snapshot";
  shale_db *db;
  int rc = shale_open(path, NULL, &db);
  if (rc) return fprintf(stderr, "open: %s: %s\n", shale_strerror(rc), shale_errmsg(NULL)), 1;

  /* Opening balances, and a pending transfer record, in one atomic, durable write. */
  shale_batch *b;
  CHECK(shale_batch_new(&b));
  batch_put_balance(b, "account/alice", 100);
  batch_put_balance(b, "account/bob", 50);
  CHECK(shale_batch_put(b, "pending/1", 9, "alice->bob 30", 13));
  CHECK(shale_write(db, b, SHALE_SYNC));
  printf("before: alice=%ld bob=%ld\n", balance(db, NULL, "account/alice"),
         balance(db, NULL, "account/bob"));

  /* Pin this state. Reads through the snapshot ignore every later write. */
  const shale_snapshot *snap;
  CHECK(shale_snapshot_new(db, &snap));

  /* The transfer: both balances change and the pending record goes, all or nothing. A batch
   * can be reused after shale_batch_clear. */
  shale_batch_clear(b);
  batch_put_balance(b, "account/alice", 70);
  batch_put_balance(b, "account/bob", 80);
  CHECK(shale_batch_delete(b, "pending/1", 9));
  printf("transfer batch: %zu operations\n", shale_batch_count(b));
  CHECK(shale_write(db, b, SHALE_SYNC));
  shale_batch_free(b);

  long alice_now = balance(db, NULL, "account/alice"), bob_now = balance(db, NULL, "account/bob");
  long alice_then = balance(db, snap, "account/alice"), bob_then = balance(db, snap, "account/bob");
  printf("latest:   alice=%ld bob=%ld (total %ld)\n", alice_now, bob_now, alice_now + bob_now);
  printf("snapshot: alice=%ld bob=%ld (total %ld)\n", alice_then, bob_then, alice_then + bob_then);

  /* An iterator can read through the snapshot too: the pending record is still there. */
  shale_iter *it;
  CHECK(shale_iter_new(db, snap, &it));
  printf("snapshot contents:\n");
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t kl, vl;
    const char *k = shale_iter_key(it, &kl), *v = shale_iter_value(it, &vl);
    printf("  %.*s = %.*s\n", (int)kl, k, (int)vl, v);
  }
  CHECK(shale_iter_status(it));
  shale_iter_free(it);

  int pending_now = balance(db, NULL, "pending/1") != -1;
  shale_snapshot_free(db, snap); /* snapshots and iterators are released before close */
  CHECK(shale_close(db));

  if (alice_now != 70 || bob_now != 80 || alice_then != 100 || bob_then != 50 || pending_now) {
    fprintf(stderr, "unexpected balances\n");
    return 1;
  }
  return 0;
}
