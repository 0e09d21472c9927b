#include "fdtable.h"

#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proc.h"
#include "shared.h"

namespace iogate {

namespace {
FdState g_own[kMaxFd];  // the preload shim's table: zero-initialised (static storage), touched lazily

// The table of the process being served (proc.h).
FdState* table() {
  FdState* t = proc().fds;
  return t ? t : g_own;
}

// *conn gets the ordinal any process of the server registered for this
// socket (an inherited or exec'd-into connection), 0 if none.
FdKind classify(int fd, uint32_t* conn) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return FdKind::other;
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return FdKind::other;
  len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return FdKind::other;
  if (domain != AF_INET && domain != AF_INET6) return FdKind::other;
  int listening = 0;
  len = sizeof listening;
  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (listening) return FdKind::listen;
  *conn = shared_conn_of(st.st_dev, st.st_ino);
  return FdKind::stream;
}
}  // namespace

FdState* stream_state(int fd) {
  if (fd < 0 || fd >= kMaxFd) return nullptr;
  FdState& s = table()[fd];
  auto kind = static_cast<FdKind>(s.kind.load(std::memory_order_acquire));
  if (kind == FdKind::unknown) {
    uint32_t conn = 0;
    kind = classify(fd, &conn);
    uint32_t none = 0;  // a number given by accept or dup stays
    if (conn != 0) s.conn.compare_exchange_strong(none, conn, std::memory_order_relaxed);
    s.kind.store(static_cast<uint8_t>(kind), std::memory_order_release);
  }
  return kind == FdKind::other ? nullptr : &s;
}

void fd_reset(int fd, FdKind kind, uint32_t conn) {
  if (fd < 0 || fd >= kMaxFd) return;
  FdState& s = table()[fd];
  s.dead.store(0, std::memory_order_relaxed);
  s.conn.store(conn, std::memory_order_relaxed);
  for (auto& c : s.calls) c.store(0, std::memory_order_relaxed);
  for (auto& o : s.ops) o.store(0, std::memory_order_relaxed);
  for (auto& f : s.fired) f.store(0, std::memory_order_relaxed);
  s.kind.store(static_cast<uint8_t>(kind), std::memory_order_release);
}

uint32_t fd_conn(int fd) {
  return (fd < 0 || fd >= kMaxFd) ? 0 : table()[fd].conn.load(std::memory_order_relaxed);
}

bool fd_known_stream(int fd) {
  if (fd < 0 || fd >= kMaxFd) return false;
  auto k = static_cast<FdKind>(table()[fd].kind.load(std::memory_order_relaxed));
  return k == FdKind::stream || k == FdKind::conn || k == FdKind::listen || k == FdKind::outgoing;
}

bool fd_known_other(int fd) {
  if (fd < 0 || fd >= kMaxFd) return false;
  return static_cast<FdKind>(table()[fd].kind.load(std::memory_order_relaxed)) == FdKind::other;
}

void fd_mark_listener(int fd) {
  if (fd >= 0 && fd < kMaxFd) table()[fd].kind.store(static_cast<uint8_t>(FdKind::listen), std::memory_order_release);
}

void fd_mark_outgoing(int fd) {
  if (fd >= 0 && fd < kMaxFd && stream_state(fd))
    table()[fd].kind.store(static_cast<uint8_t>(FdKind::outgoing), std::memory_order_release);
}

void fd_number_if_unnumbered(int fd) {
  if (fd < 0 || fd >= kMaxFd) return;
  FdState& s = table()[fd];
  if (static_cast<FdKind>(s.kind.load(std::memory_order_acquire)) != FdKind::stream) return;
  if (s.conn.load(std::memory_order_relaxed) != 0) return;  // accept() numbered it already
  uint32_t none = 0;
  const uint32_t mine = shared_next_conn(fd);
  if (s.conn.compare_exchange_strong(none, mine)) s.kind.store(static_cast<uint8_t>(FdKind::conn));
}

FdRole fd_role(int fd) {
  if (!stream_state(fd)) return FdRole::any;  // classifies an fd not seen yet
  switch (static_cast<FdKind>(table()[fd].kind.load(std::memory_order_acquire))) {
    case FdKind::listen: return FdRole::listen;
    case FdKind::conn:
    case FdKind::stream:
    case FdKind::outgoing: return FdRole::conn;
    default: return FdRole::any;
  }
}

uint32_t fd_accepted(int fd) {
  const uint32_t conn = shared_next_conn(fd);
  fd_reset(fd, FdKind::unknown, conn);  // classified (TCP or not) on first use
  return conn;
}

// Mapped, not allocated: the kernel's zero pages stand for the unused slots
// (all-zero is an empty slot, as in g_own), so a new process (a fork per
// connection) costs the slots it uses, not kMaxFd of them.
FdState* fd_table_new(const FdState* parent) {
  void* p = mmap(nullptr, sizeof(FdState) * kMaxFd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* t = static_cast<FdState*>(p);
  if (parent)
    for (int fd = 0; fd < kMaxFd; ++fd) {
      const FdState& from = parent[fd];
      if (from.kind.load(std::memory_order_relaxed) == 0) continue;
      FdState& to = t[fd];
      to.kind.store(from.kind.load());
      to.dead.store(from.dead.load());
      to.conn.store(from.conn.load());
      for (int i = 0; i < kCallClasses; ++i) to.calls[i].store(from.calls[i].load());
      for (int i = 0; i < 4; ++i) to.ops[i].store(from.ops[i].load());
      for (int i = 0; i < kMaxRules; ++i) to.fired[i].store(from.fired[i].load());
    }
  return t;
}

void fd_table_free(FdState* t) {
  if (t) munmap(t, sizeof(FdState) * kMaxFd);
}

}  // namespace iogate
