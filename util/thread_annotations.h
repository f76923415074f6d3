/* thread_annotations.h — lock rules clang checks (-Wthread-safety), written as attributes
 * that expand to nothing on other compilers, and sh_mutex: a pthread mutex the analysis
 * knows as a capability (glibc's pthread_mutex_t carries no such attribute).
 * What clang 14 can check in C: functions that acquire, release or require a lock
 * (SH_ACQUIRE, SH_RELEASE, SH_REQUIRES, SH_EXCLUDES on a lock reached through a parameter,
 * e.g. SH_REQUIRES(db->mu)), every lock taken being released on every path, and globals
 * marked SH_GUARDED_BY. It cannot check an attribute on a member naming a sibling member:
 * clang 14 rejects guarded_by(mu) there ("use of undeclared identifier"); clang 19 accepts
 * it but does not rebase mu on the object reached, and reports "requires holding mutex
 * 'mu'" even inside sh_mutex_lock(&d->mu) ... d->n ... sh_mutex_unlock(&d->mu). So the
 * fields a lock guards sit in a struct of their own, a member named under_<lock>, reached
 * only through a static inline accessor that says SH_REQUIRES(p->lock) and returns its
 * address: the analysis checks every call, at no cost. scripts/check-lock-groups.sh keeps
 * the member's name out of every other line (doc/ARCHITECTURE.md lists the groups). */
#ifndef SHALE_UTIL_THREAD_ANNOTATIONS_H
#define SHALE_UTIL_THREAD_ANNOTATIONS_H

#include <pthread.h>
#include <time.h>

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(guarded_by)
#define SH_THREAD_ANNOTATION(x) __attribute__((x))
#endif
#endif
#ifndef SH_THREAD_ANNOTATION
#define SH_THREAD_ANNOTATION(x)
#endif

#define SH_CAPABILITY(name) SH_THREAD_ANNOTATION(capability(name))
#define SH_GUARDED_BY(lock) SH_THREAD_ANNOTATION(guarded_by(lock))
#define SH_PT_GUARDED_BY(lock) SH_THREAD_ANNOTATION(pt_guarded_by(lock))
#define SH_REQUIRES(...) SH_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define SH_ACQUIRE(...) SH_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define SH_RELEASE(...) SH_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SH_TRY_ACQUIRE(...) SH_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define SH_EXCLUDES(...) SH_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define SH_ASSERT_CAPABILITY(lock) SH_THREAD_ANNOTATION(assert_capability(lock))
#define SH_RETURN_CAPABILITY(lock) SH_THREAD_ANNOTATION(lock_returned(lock))
#define SH_NO_THREAD_SAFETY_ANALYSIS SH_THREAD_ANNOTATION(no_thread_safety_analysis)

typedef struct SH_CAPABILITY("mutex") sh_mutex {
  pthread_mutex_t m;
} sh_mutex;

#define SH_MUTEX_INITIALIZER \
  { PTHREAD_MUTEX_INITIALIZER }

/* The wrappers are where the analysis meets pthreads, which it cannot see into: their bodies
 * are exempt, their signatures are the rule. */

static inline int sh_mutex_init(sh_mutex *mu) { return pthread_mutex_init(&mu->m, NULL); }

static inline void sh_mutex_destroy(sh_mutex *mu) { pthread_mutex_destroy(&mu->m); }

static inline void sh_mutex_lock(sh_mutex *mu) SH_ACQUIRE(*mu) SH_NO_THREAD_SAFETY_ANALYSIS {
  pthread_mutex_lock(&mu->m);
}

static inline void sh_mutex_unlock(sh_mutex *mu) SH_RELEASE(*mu) SH_NO_THREAD_SAFETY_ANALYSIS {
  pthread_mutex_unlock(&mu->m);
}

/* The lock is released while waiting and held again on return, so to the caller it is held
 * throughout. */
static inline void sh_cond_wait(pthread_cond_t *cv, sh_mutex *mu) SH_REQUIRES(*mu) {
  pthread_cond_wait(cv, &mu->m);
}

static inline int sh_cond_timedwait(pthread_cond_t *cv, sh_mutex *mu, const struct timespec *at)
    SH_REQUIRES(*mu) {
  return pthread_cond_timedwait(cv, &mu->m, at);
}

#endif /* SHALE_UTIL_THREAD_ANNOTATIONS_H */
