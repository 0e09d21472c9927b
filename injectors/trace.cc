#include "trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "real.h"
#include "trace_channel.h"

namespace iogate {

namespace {
// A spinning server can write records without end: past the cap (IOGATE_TRACE_MAX
// bytes, default 64 MiB) one last record says so and the rest is dropped.
std::atomic<long long> g_trace_left{64LL << 20};
pid_t g_pid = 0;
thread_local pid_t t_tid = 0;
}  // namespace

const char* trace_open() {
  const char* path = std::getenv("IOGATE_TRACE");
  g_pid = getpid();
  if (!path || !*path) return "";
  if (const char* cap = std::getenv("IOGATE_TRACE_MAX")) g_trace_left = std::atoll(cap);
  return channel_open(path) ? "" : "cannot open IOGATE_TRACE file";
}

bool trace_on() { return channel_on(); }

StopSignalsHeld::StopSignalsHeld() {
  if (!channel_on()) return;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  held_ = pthread_sigmask(SIG_BLOCK, &stop, &old_) == 0;
}

StopSignalsHeld::~StopSignalsHeld() {
  if (held_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

void trace_after_fork() { g_pid = getpid(); t_tid = 0; }

void trace_identity(pid_t pid, pid_t tid) {
  g_pid = pid;
  t_tid = tid;
}

TraceLine::TraceLine(const char* call) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (t_tid == 0) t_tid = static_cast<pid_t>(syscall(SYS_gettid));
  n_ = static_cast<std::size_t>(std::snprintf(buf_, sizeof buf_, "{\"ts\":%lld,\"pid\":%d,\"tid\":%d",
                                              static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec,
                                              static_cast<int>(g_pid), static_cast<int>(t_tid)));
  str("call", call);
}

void TraceLine::put(const char* s, std::size_t n) {
  if (n_ + n + 3 > sizeof buf_) n = sizeof buf_ - n_ - 3;  // keep room for "}\n"
  std::memcpy(buf_ + n_, s, n);
  n_ += n;
}
void TraceLine::put(const char* s) { put(s, std::strlen(s)); }

void TraceLine::key(const char* k) {
  put(",\"");
  put(k);
  put("\":");
}

void TraceLine::escaped(const char* s) {
  put("\"");
  for (; *s; ++s) {
    unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', static_cast<char>(c)};
      put(e, 2);
    } else if (c < 0x20) {
      char e[8];
      std::snprintf(e, sizeof e, "\\u%04x", c);
      put(e);
    } else {
      put(reinterpret_cast<const char*>(&c), 1);
    }
  }
  put("\"");
}

TraceLine& TraceLine::num(const char* k, long long v) {
  char b[32];
  key(k);
  put(b, static_cast<std::size_t>(std::snprintf(b, sizeof b, "%lld", v)));
  return *this;
}

TraceLine& TraceLine::str(const char* k, const char* v) {
  key(k);
  if (v) escaped(v); else put("null");
  return *this;
}

TraceLine& TraceLine::err(int e) {
  const char* name = e ? strerrorname_np(e) : nullptr;
  return str("errno", name);
}

TraceLine& TraceLine::raw(const char* k, const char* json) {
  key(k);
  put(json);
  return *this;
}

TraceLine& TraceLine::open_array(const char* k) {
  key(k);
  put("[");
  first_item_ = true;
  return *this;
}

TraceLine& TraceLine::array_item_pair(long long fd, const char* ev) {
  char b[32];
  if (n_ > sizeof buf_ - 256) return *this;  // a very long ready list is cut, the record stays valid JSON
  if (!first_item_) put(",");
  first_item_ = false;
  put("[");
  put(b, static_cast<std::size_t>(std::snprintf(b, sizeof b, "%lld,", fd)));
  escaped(ev);
  put("]");
  return *this;
}

TraceLine& TraceLine::close_array() {
  put("]");
  return *this;
}

void TraceLine::emit() {
  if (!channel_on()) return;
  buf_[n_++] = '}';
  buf_[n_++] = '\n';
  const long long left = g_trace_left.fetch_sub(static_cast<long long>(n_), std::memory_order_relaxed);
  if (left <= 0) return;
  int saved = errno;
  const int fd = channel_fd();  // verified to be the trace file: never a descriptor of the program
  ssize_t w = fd < 0 ? 0 : IOGATE_REAL(write)(fd, buf_, n_);
  if (fd >= 0 && left - static_cast<long long>(n_) <= 0) {
    static const char kCut[] = "{\"call\":\"trace_truncated\",\"note\":\"IOGATE_TRACE_MAX reached\"}\n";
    w = IOGATE_REAL(write)(fd, kCut, sizeof kCut - 1);
  }
  (void)w;
  errno = saved;
}

}  // namespace iogate
