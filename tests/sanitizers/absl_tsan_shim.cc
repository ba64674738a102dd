// ThreadSanitizer annotations for Debian's prebuilt abseil, preloaded
// (LD_PRELOAD) into the TSan test runs of scripts/sanitize.sh.
//
// Why: libabsl_synchronization.so is not built with TSan, so TSan cannot see
// absl::Mutex lock and unlock (they are atomics and futexes inside the
// library) and reports every access guarded by an absl::Mutex as a race.
// This library defines the out-of-line absl::Mutex, CondVar and
// Notification members itself: a preloaded definition wins over the one in
// libabsl (for our code, gRPC and abseil alike); each tells TSan what
// happens (__tsan_mutex_* annotations, as abseil's own TSan build does) and
// calls the real function, found with dlsym(RTLD_NEXT).
//
// Waits (Await, CondVar::Wait) are annotated as an unlock of the mutex
// before waiting and a lock after; what the real functions do in between,
// and inside every lock and unlock (where abseil evaluates the Conditions of
// waiting threads), is ignored by TSan, as with abseil's own annotations.
//
// Built by scripts/sanitize.sh only:
//   g++ -shared -fPIC -O1 -fsanitize=thread absl_tsan_shim.cc -o libabsl_tsan_shim.so -ldl
// The mangled names are those of Debian 12's abseil (inline namespace
// "debian3"); a missing symbol aborts with a message saying so.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

extern "C" {
void __tsan_mutex_pre_lock(void* addr, unsigned flags);
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void* addr, unsigned flags);
void __tsan_mutex_post_unlock(void* addr, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
void AnnotateIgnoreSyncBegin(const char* file, int line);
void AnnotateIgnoreSyncEnd(const char* file, int line);
}

namespace {

constexpr unsigned kReadLock = 1 << 3;       // __tsan_mutex_read_lock
constexpr unsigned kTryLock = 1 << 4;        // __tsan_mutex_try_lock
constexpr unsigned kTryLockFailed = 1 << 5;  // __tsan_mutex_try_lock_failed

template <typename Fn>
Fn Real(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "absl_tsan_shim: %s not found in abseil: update the shim\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

// While the real function waits, TSan ignores what it does.
struct IgnoreScope {
  explicit IgnoreScope(bool active) : active(active) {
    if (!active) return;
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
  }
  ~IgnoreScope() {
    if (!active) return;
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
  const bool active;
};

// abseil calls its own public functions (CondVar::WaitWithTimeout calls
// WaitWithDeadline, Notification::Notify locks a Mutex): only the outermost
// shimmed call on a thread annotates.
thread_local int shim_depth = 0;
struct Nesting {
  Nesting() : outermost(shim_depth++ == 0) {}
  ~Nesting() { --shim_depth; }
  const bool outermost;
};

// ~Mutex is not annotated: gRPC destroys its mutexes after reference counts
// (atomics TSan cannot see in the uninstrumented library) reach zero, which
// TSan would report as a race with the last lock. Freed heap memory drops
// its TSan mutex state anyway.

// A wait that unlocks and relocks `mu` inside abseil: tell TSan the mutex
// is released before and taken again after (writer mode: the project waits
// only with writer locks held).
void UnlockedForWait(void* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
}
void LockedAfterWait(void* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
}

#define ABSL_SHIM_NAME(s) "_ZN4absl7debian3" s

}  // namespace

namespace absl {

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex4LockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, 0);
  real(this);
  if (n.outermost) __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex10ReaderLockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kReadLock);
  real(this);
  if (n.outermost) __tsan_mutex_post_lock(this, kReadLock, 0);
}

bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex7TryLockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kTryLock);
  const bool locked = real(this);
  if (n.outermost) __tsan_mutex_post_lock(this, kTryLock | (locked ? 0 : kTryLockFailed), 0);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex13ReaderTryLockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kReadLock | kTryLock);
  const bool locked = real(this);
  if (n.outermost)
    __tsan_mutex_post_lock(this, kReadLock | kTryLock | (locked ? 0 : kTryLockFailed), 0);
  return locked;
}

void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex6UnlockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_unlock(this, 0);
  real(this);
  if (n.outermost) __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>(ABSL_SHIM_NAME("5Mutex12ReaderUnlockEv"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_unlock(this, kReadLock);
  real(this);
  if (n.outermost) __tsan_mutex_post_unlock(this, kReadLock);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>(ABSL_SHIM_NAME("5Mutex8LockWhenERKNS0_9ConditionE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  if (n.outermost) __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>(
      ABSL_SHIM_NAME("5Mutex14ReaderLockWhenERKNS0_9ConditionE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kReadLock);
  real(this, cond);
  if (n.outermost) __tsan_mutex_post_lock(this, kReadLock, 0);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      ABSL_SHIM_NAME("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, 0);
  const bool result = real(this, cond, timeout);
  if (n.outermost) __tsan_mutex_post_lock(this, 0, 0);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      ABSL_SHIM_NAME("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, 0);
  const bool result = real(this, cond, deadline);
  if (n.outermost) __tsan_mutex_post_lock(this, 0, 0);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      ABSL_SHIM_NAME("5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kReadLock);
  const bool result = real(this, cond, timeout);
  if (n.outermost) __tsan_mutex_post_lock(this, kReadLock, 0);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      ABSL_SHIM_NAME("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  Nesting n;
  if (n.outermost) __tsan_mutex_pre_lock(this, kReadLock);
  const bool result = real(this, cond, deadline);
  if (n.outermost) __tsan_mutex_post_lock(this, kReadLock, 0);
  return result;
}

void Mutex::Await(const Condition& cond) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>(ABSL_SHIM_NAME("5Mutex5AwaitERKNS0_9ConditionE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(this);
  {
    IgnoreScope ignore(n.outermost);
    real(this, cond);
  }
  if (n.outermost) LockedAfterWait(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      ABSL_SHIM_NAME("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(this);
  bool result;
  {
    IgnoreScope ignore(n.outermost);
    result = real(this, cond, timeout);
  }
  if (n.outermost) LockedAfterWait(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      ABSL_SHIM_NAME("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(this);
  bool result;
  {
    IgnoreScope ignore(n.outermost);
    result = real(this, cond, deadline);
  }
  if (n.outermost) LockedAfterWait(this);
  return result;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>(ABSL_SHIM_NAME("7CondVar4WaitEPNS0_5MutexE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(mu);
  {
    IgnoreScope ignore(n.outermost);
    real(this, mu);
  }
  if (n.outermost) LockedAfterWait(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      ABSL_SHIM_NAME("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(mu);
  bool result;
  {
    IgnoreScope ignore(n.outermost);
    result = real(this, mu, timeout);
  }
  if (n.outermost) LockedAfterWait(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      ABSL_SHIM_NAME("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"));
  Nesting n;
  if (n.outermost) UnlockedForWait(mu);
  bool result;
  {
    IgnoreScope ignore(n.outermost);
    result = real(this, mu, deadline);
  }
  if (n.outermost) LockedAfterWait(mu);
  return result;
}

void Notification::Notify() {
  static auto real = Real<void (*)(Notification*)>(ABSL_SHIM_NAME("12Notification6NotifyEv"));
  Nesting n;
  if (n.outermost) __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  static auto real =
      Real<void (*)(const Notification*)>("_ZNK4absl7debian312Notification19WaitForNotificationEv");
  Nesting n;
  real(this);
  if (n.outermost) __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  Nesting n;
  const bool result = real(this, timeout);
  if (n.outermost) __tsan_acquire(const_cast<Notification*>(this));
  return result;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static auto real = Real<bool (*)(const Notification*, absl::Time)>(
      "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  Nesting n;
  const bool result = real(this, deadline);
  if (n.outermost) __tsan_acquire(const_cast<Notification*>(this));
  return result;
}

}  // namespace absl
