/* io_map_guard.c — see io_map_guard.h. The guard is a thread-local jump buffer armed only
 * for the length of one copy, plus the address range being copied: the handler jumps back
 * only for a fault inside that range on a thread that armed it, so a SIGBUS anywhere else
 * (the program's own mappings, a bus error in its code) goes to the previous handler, or to
 * the default action, exactly as if Shale had installed nothing. */
#include "io/io_map_guard.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include "util/thread_annotations.h"

typedef struct guard {
  sigjmp_buf env;
  sigset_t mask;               /* the thread's signal mask when the fault struck */
  const char *lo, *hi;         /* the source range of the copy in progress */
  volatile sig_atomic_t armed; /* a copy is in progress on this thread */
} guard;

static _Thread_local guard g;
static struct sigaction prev; /* the SIGBUS disposition the guard displaced */
static sh_mutex install_mu = SH_MUTEX_INITIALIZER;

/* A fault that is not ours, handled as the displaced disposition would have. Default or
 * ignored: restore the default and return, so the faulting access repeats and kills the
 * process with SIGBUS as it would have without Shale (an ignored synchronous SIGBUS kills
 * too). */
static void pass_on(int sig, siginfo_t *si, void *uc) {
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, si, uc);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  } else {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, NULL);
  }
}

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  const char *a = si->si_addr;
  if (g.armed && a >= g.lo && a < g.hi) {
    g.armed = 0;
    g.mask = ((const ucontext_t *)uc)->uc_sigmask; /* what returning would have restored */
    siglongjmp(g.env, 1);
  }
  pass_on(sig, si, uc);
}

static int is_guard(const struct sigaction *sa) {
  return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigbus;
}

static int is_default(const struct sigaction *sa) {
  return !(sa->sa_flags & SA_SIGINFO) && (sa->sa_handler == SIG_DFL || sa->sa_handler == SIG_IGN);
}

/* Why a handler installed after the guard is left alone: it may chain to the guard, and
 * the guard, chaining back to it, would loop on every fault that is not ours. */
int io_map_guard_install(void) {
  static int installed SH_GUARDED_BY(install_mu);
  struct sigaction cur, sa;
  int rc = -1;
  sh_mutex_lock(&install_mu);
  if (sigaction(SIGBUS, NULL, &cur) != 0) {
    rc = -1;
  } else if (is_guard(&cur)) {
    rc = 0;
  } else if (!installed || is_default(&cur)) {
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    prev = cur; /* before the switch: a fault between the two finds the right handler */
    rc = sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -1;
    installed |= rc == 0;
  }
  sh_mutex_unlock(&install_mu);
  return rc;
}

/* Why sigsetjmp(env, 0) and the mask from the handler's context: saving the mask in every
 * sigsetjmp is a system call per copy, while the jump happens only after a fault. The mask
 * must be restored then, since the handler runs with signals blocked (SIGBUS itself is not,
 * with SA_NODEFER, but a runtime that wraps handlers, such as TSan's, blocks them all): left
 * blocked, the next fault would kill the process. */
int io_map_guard_copy(void *dst, const void *src, size_t len) {
  if (sigsetjmp(g.env, 0)) {
    pthread_sigmask(SIG_SETMASK, &g.mask, NULL);
    return -1;
  }
  g.lo = src;
  g.hi = (const char *)src + len;
  g.armed = 1;
  atomic_signal_fence(memory_order_seq_cst); /* the copy stays inside the armed stretch */
  memcpy(dst, src, len);
  atomic_signal_fence(memory_order_seq_cst);
  g.armed = 0;
  return 0;
}
