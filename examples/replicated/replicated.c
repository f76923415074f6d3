/* replicated.c — a key-value service replicated with Raft (canonical/raft over libuv TCP on
 * 127.0.0.1), each replica's state machine a Shale DB (kv_fsm.c). Run as a self-checking
 * scenario: three replicas in this process, on one event loop, each with its own Raft log,
 * TCP port and DB:
 *   1. 10,000 writes (puts, and deletes of earlier keys) through the leader;
 *   2. the leader stopped with a window of writes in flight; the two others elect a new
 *      leader and take 2,500 more writes, among them deletes of keys the stopped replica
 *      still holds;
 *   3. every acknowledged write checked on both survivors (a scan against a model of what
 *      was acknowledged), and the survivors equal;
 *   4. the stopped replica restarted on its stale directory: its log ends before the
 *      leader's, which was truncated by snapshots, so it must install a snapshot (an SST
 *      ingested over its DB); then all three equal;
 *   5. a follower restarted on an empty directory: it also catches up from a snapshot.
 * Every wait polls the loop with one deadline; nothing depends on a sleep.
 * usage: shale-example-replicated [PARENT_DIR]  (a fresh directory is made in it and
 * removed on success; default $TMPDIR or /tmp) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "kv_fsm.h"

#define N_NODES 3
#define PHASE1_WRITES 10000u
#define PHASE2_WRITES 2500u
#define MAX_WRITES 40000u /* write ids, with room for those past the phases' counts */
#define WINDOW 256u       /* writes in flight at once */
#define BUDGET_SECONDS 55.0
#define VALUE_SIZE 100

#define FAIL(...)                                  \
  do {                                             \
    fprintf(stderr, "replicated: FAIL: ");         \
    fprintf(stderr, __VA_ARGS__);                  \
    fprintf(stderr, " (data kept in %s)\n", root); \
    exit(1);                                       \
  } while (0)

static char root[400];

struct node {
  unsigned id;
  char dir[512];
  char address[64];
  struct kv_fsm kv;
  struct raft_uv_transport transport;
  struct raft_io io;
  struct raft raft;
  int running;
  int closed;
};

/* What became of one write. */
enum { W_NOT_SENT, W_PENDING, W_ACKED, W_UNKNOWN };

struct write_op {
  uint32_t key; /* the id of the write that put the key */
  uint8_t is_delete;
  uint8_t state;
};

struct cluster {
  uv_loop_t loop;
  uv_timer_t tick;
  struct node nodes[N_NODES];
  struct write_op writes[MAX_WRITES];
  uint32_t submitted;
  uint32_t acked;
  uint32_t failed;
  unsigned inflight;
  double deadline;
};

struct write_req {
  struct raft_apply req;
  struct cluster *c;
  uint32_t id;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A loopback port free now, drawn below the usual ephemeral range (32768-60999): there no
 * outgoing connection takes it as its local port while its replica is stopped, and parallel
 * runs draw different ones. */
static unsigned free_port(void) {
  for (int attempt = 0; attempt < 1000; attempt++) {
    unsigned port = 20000u + (unsigned)(rand() % 12000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int bound = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    if (bound) return port;
  }
  FAIL("cannot find a free loopback port");
}

/* Runs the loop once; the tick timer makes it return at least every few milliseconds. */
static void run_once(struct cluster *c, const char *waiting_for) {
  if (now_seconds() > c->deadline) FAIL("timed out waiting for %s", waiting_for);
  uv_run(&c->loop, UV_RUN_ONCE);
}

static void on_tick(uv_timer_t *t) { (void)t; }

static void on_raft_closed(struct raft *r) {
  struct node *n = r->data;
  n->closed = 1;
}

static void node_start(struct cluster *c, struct node *n, int bootstrap) {
  char raft_dir[600];
  snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->dir);
  mkdir(n->dir, 0755);
  mkdir(raft_dir, 0755);
  if (kv_fsm_open(&n->kv, n->dir, &n->raft) != SHALE_OK) FAIL("node %u: cannot open its DB", n->id);
  int rv = raft_uv_tcp_init(&n->transport, &c->loop);
  if (rv == 0) rv = raft_uv_init(&n->io, &c->loop, raft_dir, &n->transport);
  if (rv == 0) rv = raft_init(&n->raft, &n->io, &n->kv.fsm, n->id, n->address);
  if (rv != 0) FAIL("node %u: raft setup: %s", n->id, raft_strerror(rv));
  n->raft.data = n;
  raft_uv_set_connect_retry_delay(&n->io, 100);
  if (bootstrap) {
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (int i = 0; i < N_NODES; i++)
      if (raft_configuration_add(&conf, c->nodes[i].id, c->nodes[i].address, RAFT_VOTER) != 0)
        FAIL("configuration");
    rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0) FAIL("node %u: bootstrap: %s", n->id, raft_strerror(rv));
  }
  /* Generous timeouts: a loaded 2-core CI machine may stall the loop for a while, and a
   * needless election only costs time (the writes it fails are accounted for). */
  raft_set_election_timeout(&n->raft, 1000);
  raft_set_heartbeat_timeout(&n->raft, 100);
  /* Snapshot often and keep a short tail, so a replica that was away finds the log it
   * needs truncated and catches up from a snapshot. */
  raft_set_snapshot_threshold(&n->raft, 1000);
  raft_set_snapshot_trailing(&n->raft, 100);
  /* libraft 0.15's leader may miss the end of an install to a replica that restarted empty
   * and keep it in snapshot mode until this timeout (30 s by default) before it sends the
   * entries after the snapshot. Sending a snapshot again early is harmless: the restore of
   * one the DB already holds changes nothing. */
  raft_set_install_snapshot_timeout(&n->raft, 3000);
  /* A restarted replica must not disturb the leader with a higher term. */
  raft_set_pre_vote(&n->raft, true);
  rv = raft_start(&n->raft);
  if (rv != 0) FAIL("node %u: start: %s (%s)", n->id, raft_strerror(rv), raft_errmsg(&n->raft));
  n->running = 1;
  n->closed = 0;
}

static void node_stop(struct cluster *c, struct node *n) {
  raft_close(&n->raft, on_raft_closed);
  while (!n->closed) run_once(c, "a replica to close");
  raft_uv_close(&n->io);
  raft_uv_tcp_close(&n->transport);
  kv_fsm_close(&n->kv);
  n->running = 0;
}

static struct node *find_leader(struct cluster *c) {
  struct node *leader = NULL;
  for (int i = 0; i < N_NODES; i++) {
    struct node *n = &c->nodes[i];
    if (!n->running || raft_state(&n->raft) != RAFT_LEADER) continue;
    if (leader == NULL || n->raft.current_term > leader->raft.current_term) leader = n;
  }
  return leader;
}

static struct node *wait_leader(struct cluster *c) {
  struct node *leader;
  while ((leader = find_leader(c)) == NULL) run_once(c, "a leader");
  return leader;
}

static void key_of(uint32_t id, char key[16]) { snprintf(key, 16, "k%08u", (unsigned)id); }

static void value_of(uint32_t id, char val[VALUE_SIZE]) {
  int n = snprintf(val, VALUE_SIZE, "value-%08u-", (unsigned)id);
  for (int i = n; i < VALUE_SIZE; i++) val[i] = (char)('a' + (id + (unsigned)i) % 26);
}

static void on_applied(struct raft_apply *req, int status, void *result) {
  (void)result;
  struct write_req *w = (struct write_req *)req;
  struct cluster *c = w->c;
  c->writes[w->id].state = status == 0 ? W_ACKED : W_UNKNOWN;
  if (status == 0)
    c->acked++;
  else
    c->failed++;
  c->inflight--;
  free(w);
}

/* Submits write @p id as described by c->writes[id]; 0 when raft took it. */
static int submit(struct cluster *c, struct node *leader, uint32_t id) {
  struct write_op *op = &c->writes[id];
  char key[16], val[VALUE_SIZE];
  key_of(op->key, key);
  value_of(op->key, val);
  struct raft_buffer buf;
  if (kv_command_encode(key, strlen(key), op->is_delete ? NULL : val, VALUE_SIZE, &buf) != 0)
    FAIL("encode");
  struct write_req *w = malloc(sizeof *w);
  if (w == NULL) FAIL("out of memory");
  w->c = c;
  w->id = id;
  w->req.data = w;
  int rv = raft_apply(&leader->raft, &w->req, &buf, 1, on_applied);
  if (rv != 0) {
    /* Not appended: as if never sent, and the same id is submitted again later. */
    raft_free(buf.base);
    free(w);
    return rv;
  }
  op->state = W_PENDING;
  c->inflight++;
  return 0;
}

/* Phase 1: write i puts key i, except that every tenth deletes the key put four before.
 * Phase 2 (from @p phase2_start): every tenth deletes a phase-1 key (ids ending in 7) that
 * phase 1 kept, so a replica stopped before phase 2 holds keys its snapshot must remove. */
static void plan_write(struct cluster *c, uint32_t id, uint32_t phase2_start) {
  struct write_op *op = &c->writes[id];
  op->state = W_NOT_SENT;
  if (id % 10 != 9) {
    op->key = id;
    op->is_delete = 0;
  } else if (id < phase2_start) {
    op->key = id - 4;
    op->is_delete = 1;
  } else {
    uint32_t j = id - phase2_start;
    op->key = (j / 10) * 10 + 7;
    op->is_delete = op->key < phase2_start;
    if (!op->is_delete) op->key = id;
  }
}

/* Submits writes to the leader until @p room writes are in flight (at most WINDOW). */
static void fill_window(struct cluster *c, uint32_t room, uint32_t phase2_start) {
  struct node *leader = find_leader(c);
  if (room > WINDOW) room = WINDOW;
  while (leader != NULL && c->inflight < room) {
    if (c->submitted >= MAX_WRITES) FAIL("too many failed writes (%u)", c->failed);
    plan_write(c, c->submitted, phase2_start);
    if (submit(c, leader, c->submitted) != 0) break;
    c->submitted++;
  }
}

/* Runs writes through whichever replica leads until @p count more are acknowledged. With
 * @p drain 0 it keeps the window full to the end and returns with writes still in flight. */
static double write_phase(struct cluster *c, uint32_t count, uint32_t phase2_start, int drain) {
  uint32_t goal = c->acked + count;
  double start = now_seconds();
  while (c->acked < goal) {
    fill_window(c, drain ? goal - c->acked : WINDOW, phase2_start);
    run_once(c, "writes to be acknowledged");
  }
  double secs = now_seconds() - start;
  if (!drain) fill_window(c, WINDOW, phase2_start);
  while (drain && c->inflight > 0) run_once(c, "writes in flight");
  return secs;
}

struct barrier_req {
  struct raft_barrier req;
  int done;
  int status;
};

static void on_barrier(struct raft_barrier *req, int status) {
  struct barrier_req *b = req->data;
  b->done = 1;
  b->status = status;
}

/* An index every live replica reaches once it has applied all acknowledged writes: a
 * barrier committed by the current leader. */
static raft_index commit_barrier(struct cluster *c) {
  for (;;) {
    struct node *leader = wait_leader(c);
    struct barrier_req b = {.done = 0};
    b.req.data = &b;
    if (raft_barrier(&leader->raft, &b.req, on_barrier) != 0) {
      run_once(c, "a leader that accepts a barrier");
      continue;
    }
    while (!b.done) run_once(c, "a barrier");
    if (b.status == 0) return b.req.index;
  }
}

static void wait_applied(struct cluster *c, raft_index index) {
  for (int i = 0; i < N_NODES; i++) {
    struct node *n = &c->nodes[i];
    while (n->running && raft_last_applied(&n->raft) < index) run_once(c, "replicas to apply");
  }
}

/* 1: present in a correct final state, 0: absent; -1: either, -2: must be absent. */
static int expected_presence(const struct cluster *c, uint32_t key, const int32_t *delete_of) {
  if (key >= c->submitted || c->writes[key].is_delete || c->writes[key].key != key) return -2;
  uint8_t put = c->writes[key].state;
  uint8_t del = delete_of[key] >= 0 ? c->writes[delete_of[key]].state : W_NOT_SENT;
  if (del == W_ACKED || put == W_NOT_SENT) return 0;
  if (put == W_ACKED && del == W_NOT_SENT) return 1;
  return -1; /* an apply whose outcome was not reported: either state is right */
}

/* Scans @p n's keys and checks them against what was acknowledged. */
static void check_model(struct cluster *c, struct node *n) {
  int32_t *delete_of = malloc(sizeof(int32_t) * MAX_WRITES);
  uint8_t *present = calloc(MAX_WRITES, 1);
  if (delete_of == NULL || present == NULL) FAIL("out of memory");
  for (uint32_t i = 0; i < MAX_WRITES; i++) delete_of[i] = -1;
  for (uint32_t i = 0; i < c->submitted; i++)
    if (c->writes[i].is_delete) delete_of[c->writes[i].key] = (int32_t)i;
  shale_iter *it;
  if (kv_iter_new(&n->kv, NULL, &it) != SHALE_OK) FAIL("node %u: iterator", n->id);
  for (shale_iter_seek_first(it); shale_iter_valid(it); shale_iter_next(it)) {
    size_t klen, vlen;
    const char *key = kv_iter_key(it, &klen);
    const char *val = shale_iter_value(it, &vlen);
    unsigned id;
    char want[VALUE_SIZE];
    if (klen != 9 || sscanf(key, "k%8u", &id) != 1 || id >= MAX_WRITES)
      FAIL("node %u: unexpected key %.*s", n->id, (int)klen, key);
    value_of(id, want);
    if (vlen != VALUE_SIZE || memcmp(val, want, VALUE_SIZE) != 0)
      FAIL("node %u: key %u has a wrong value", n->id, id);
    present[id] = 1;
  }
  if (shale_iter_status(it) != SHALE_OK) FAIL("node %u: scan failed", n->id);
  shale_iter_free(it);
  for (uint32_t k = 0; k < MAX_WRITES; k++) {
    int want = expected_presence(c, k, delete_of);
    if ((want == 1 && !present[k]) || ((want == 0 || want == -2) && present[k]))
      FAIL("node %u: key %u is %s", n->id, k, present[k] ? "present" : "missing");
  }
  free(delete_of);
  free(present);
}

/* Scans two replicas side by side: the same keys with the same values. */
static void check_equal(struct node *a, struct node *b) {
  shale_iter *ia, *ib;
  if (kv_iter_new(&a->kv, NULL, &ia) != SHALE_OK || kv_iter_new(&b->kv, NULL, &ib) != SHALE_OK)
    FAIL("iterators");
  size_t keys = 0;
  shale_iter_seek_first(ia);
  shale_iter_seek_first(ib);
  for (; shale_iter_valid(ia) && shale_iter_valid(ib); shale_iter_next(ia), shale_iter_next(ib)) {
    size_t ka, kb, va, vb;
    const void *keya = kv_iter_key(ia, &ka), *keyb = kv_iter_key(ib, &kb);
    const void *vala = shale_iter_value(ia, &va), *valb = shale_iter_value(ib, &vb);
    if (ka != kb || memcmp(keya, keyb, ka) != 0 || va != vb || memcmp(vala, valb, va) != 0)
      FAIL("nodes %u and %u differ at key %.*s", a->id, b->id, (int)ka, (const char *)keya);
    keys++;
  }
  if (shale_iter_valid(ia) || shale_iter_valid(ib) || shale_iter_status(ia) != SHALE_OK ||
      shale_iter_status(ib) != SHALE_OK)
    FAIL("nodes %u and %u hold different key counts (after %zu equal keys)", a->id, b->id, keys);
  shale_iter_free(ia);
  shale_iter_free(ib);
  printf("replicated: nodes %u and %u hold the same %zu keys\n", a->id, b->id, keys);
}

static void setup(struct cluster *c, const char *parent) {
  int len = snprintf(root, sizeof root, "%s/shale-replicated.XXXXXX", parent);
  if (len < 0 || (size_t)len >= sizeof root) {
    fprintf(stderr, "replicated: directory name too long: %s\n", parent);
    exit(1);
  }
  if (mkdtemp(root) == NULL) {
    perror(root);
    exit(1);
  }
  if (uv_loop_init(&c->loop) != 0 || uv_timer_init(&c->loop, &c->tick) != 0 ||
      uv_timer_start(&c->tick, on_tick, 5, 5) != 0)
    FAIL("event loop");
  for (int i = 0; i < N_NODES; i++) {
    struct node *n = &c->nodes[i];
    n->id = (unsigned)i + 1;
    snprintf(n->dir, sizeof n->dir, "%s/node%u", root, n->id);
    snprintf(n->address, sizeof n->address, "127.0.0.1:%u", free_port());
  }
}

static void teardown(struct cluster *c) {
  for (int i = 0; i < N_NODES; i++)
    if (c->nodes[i].running) node_stop(c, &c->nodes[i]);
  uv_close((uv_handle_t *)&c->tick, NULL);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c->loop) != 0) FAIL("handles left open on the loop");
}

static void remove_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "replicated: could not remove %s\n", dir);
}

/* Phase 1 and the stop: writes through the leader, which is then stopped with a window of
 * writes in flight (their outcome unknown to the client: the new leader may or may not
 * commit them; the checks accept either). Returns the stopped replica. */
static struct node *write_then_stop_leader(struct cluster *c) {
  wait_leader(c);
  double secs = write_phase(c, PHASE1_WRITES, MAX_WRITES, 0);
  printf("replicated: %u writes acknowledged through Raft in %.2f s: %.0f writes/s\n",
         PHASE1_WRITES, secs, PHASE1_WRITES / secs);
  struct node *old = wait_leader(c);
  /* libraft 0.15 frees an entry twice when raft_close meets its disk append still running;
   * so the stop waits until the leader's log is on its disk, the writes still uncommitted
   * (most of them), some of them on their way to the followers. */
  while (old->raft.last_stored < raft_last_index(&old->raft))
    run_once(c, "the leader to persist its log");
  printf("replicated: stopping the leader, node %u, with %u writes in flight\n", old->id,
         c->inflight);
  node_stop(c, old);
  double stopped = now_seconds();
  while (c->inflight > 0) run_once(c, "writes in flight to be failed");
  struct node *leader = wait_leader(c);
  printf("replicated: node %u elected after %.2f s\n", leader->id, now_seconds() - stopped);
  return old;
}

/* Phase 2: writes through the new leader, then both survivors checked. */
static void write_to_survivors(struct cluster *c) {
  write_phase(c, PHASE2_WRITES, c->submitted, 1);
  wait_applied(c, commit_barrier(c));
  struct node *survivors[2];
  for (int i = 0, s = 0; i < N_NODES; i++)
    if (c->nodes[i].running) survivors[s++] = &c->nodes[i];
  check_model(c, survivors[0]);
  check_model(c, survivors[1]);
  check_equal(survivors[0], survivors[1]);
}

/* Starts @p n again (on whatever its directory holds) and checks that it caught up through
 * a snapshot and equals another replica. */
static void restart_and_check(struct cluster *c, struct node *n, const char *how) {
  node_start(c, n, 0);
  unsigned installs_at_start = n->kv.installs;
  wait_applied(c, commit_barrier(c));
  if (n->kv.installs == installs_at_start) FAIL("node %u caught up without a snapshot", n->id);
  check_model(c, n);
  for (int i = 0; i < N_NODES; i++)
    if (&c->nodes[i] != n) {
      check_equal(n, &c->nodes[i]);
      break;
    }
  printf("replicated: node %u restarted %s, caught up from %u snapshot(s)\n", n->id, how,
         n->kv.installs - installs_at_start);
}

static struct node *a_follower(struct cluster *c) {
  struct node *leader = wait_leader(c);
  for (int i = 0; i < N_NODES; i++)
    if (c->nodes[i].running && &c->nodes[i] != leader) return &c->nodes[i];
  FAIL("no follower running");
}

int main(int argc, char **argv) {
  const char *tmp = getenv("TMPDIR");
  const char *parent = argc > 1 ? argv[1] : (tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  signal(SIGPIPE, SIG_IGN);
  srand((unsigned)getpid() ^ (unsigned)time(NULL));
  mkdir(parent, 0755);
  static struct cluster cluster;
  struct cluster *c = &cluster;
  double t0 = now_seconds();
  c->deadline = t0 + BUDGET_SECONDS;
  setup(c, parent);
  for (int i = 0; i < N_NODES; i++) node_start(c, &c->nodes[i], 1);

  struct node *old = write_then_stop_leader(c);
  write_to_survivors(c);
  restart_and_check(c, old, "on its stale directory");
  /* A replica that lost its disk: an empty directory, not bootstrapped; the leader has it
   * in its configuration and finds its log empty. */
  struct node *lost = a_follower(c);
  node_stop(c, lost);
  remove_tree(lost->dir);
  restart_and_check(c, lost, "on an empty directory");
  printf("replicated: %u writes acked, %u with unknown outcome; %.1f s in all\n", c->acked,
         c->failed, now_seconds() - t0);
  teardown(c);
  remove_tree(root);
  return 0;
}
