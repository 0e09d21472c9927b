#include "epoll_book.h"

#include <atomic>
#include <mutex>
#include <vector>

#include "proc.h"

namespace iogate {

namespace {
struct Reg {
  int epfd;
  int fd;
  uint32_t events;
  uint64_t data;
  uint32_t owed;  // bits owed to this registration, 0 if none
};
}  // namespace

// One process's registrations (proc.h).
struct EpollBook {
  std::mutex mu;
  std::vector<Reg> regs;
  std::vector<std::pair<int, uint64_t>> waits;  // epfd -> waits so far
  std::atomic<int> owed_count{0};
};

namespace {
EpollBook* g_own;  // the preload shim's: allocated on first use, never freed (used until exit)

EpollBook& book() {
  if (EpollBook* b = proc().book) return *b;
  if (!g_own) g_own = new EpollBook();
  return *g_own;
}

void drop_if(EpollBook& b, bool (*pred)(const Reg&, int), int key) {
  auto& v = b.regs;
  for (size_t i = 0; i < v.size();) {
    if (pred(v[i], key)) {
      if (v[i].owed) b.owed_count.fetch_sub(1, std::memory_order_relaxed);
      v[i] = v.back();
      v.pop_back();
    } else {
      ++i;
    }
  }
}
}  // namespace

void ep_record(int epfd, int op, int fd, const epoll_event* ev) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  auto& v = b.regs;
  if (op == EPOLL_CTL_DEL) {
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].epfd == epfd && v[i].fd == fd) {
        if (v[i].owed) b.owed_count.fetch_sub(1, std::memory_order_relaxed);
        v[i] = v.back();
        v.pop_back();
        break;
      }
    return;
  }
  if (!ev) return;
  for (auto& r : v)
    if (r.epfd == epfd && r.fd == fd) {  // MOD (or a re-ADD the kernel refused)
      r.events = ev->events;
      r.data = ev->data.u64;
      if (r.owed) b.owed_count.fetch_sub(1, std::memory_order_relaxed);
      r.owed = 0;  // MOD re-reads readiness: the kernel reports what is there
      return;
    }
  v.push_back(Reg{epfd, fd, ev->events, ev->data.u64, 0});
}

void ep_forget(int fd) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  drop_if(b, [](const Reg& r, int k) { return r.fd == k || r.epfd == k; }, fd);
  for (auto& w : b.waits)
    if (w.first == fd) w.second = 0;  // a new epoll instance may get this number
}

uint32_t ep_interest(int epfd, int fd) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  for (const auto& r : b.regs)
    if (r.epfd == epfd && r.fd == fd) return r.events;
  return 0;
}

void ep_owe(int fd, uint32_t bit, bool (*still_ready)(int, uint32_t)) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  bool checked = false, ready = false;
  for (auto& r : b.regs) {
    if (r.fd != fd || !(r.events & EPOLLET) || (r.events & EPOLLONESHOT) || !(r.events & bit)) continue;
    if (!checked) {
      ready = still_ready(fd, bit);
      checked = true;
    }
    if (!ready) return;
    if (!r.owed) b.owed_count.fetch_add(1, std::memory_order_relaxed);
    r.owed |= bit;
  }
}

bool ep_has_debt(int epfd) {
  EpollBook& b = book();
  if (b.owed_count.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard<std::mutex> lock(b.mu);
  for (const auto& r : b.regs)
    if (r.epfd == epfd && r.owed) return true;
  return false;
}

int ep_pay(int epfd, epoll_event* events, int n, int maxevents, int* paid) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  *paid = 0;
  for (auto& r : b.regs) {
    if (r.epfd != epfd || !r.owed) continue;
    int slot = -1;
    for (int i = 0; i < n; ++i)
      if (events[i].data.u64 == r.data) slot = i;  // "They will be combined" (epoll(7))
    if (slot < 0) {
      if (n >= maxevents) continue;  // no room: stays owed for the next wait
      slot = n++;
      events[slot].events = 0;
      events[slot].data.u64 = r.data;
    }
    events[slot].events |= r.owed;
    r.owed = 0;
    b.owed_count.fetch_sub(1, std::memory_order_relaxed);
    ++*paid;
  }
  return n;
}

int ep_take_debts(EpDebt* out, int max) {
  EpollBook& b = book();
  if (b.owed_count.load(std::memory_order_relaxed) == 0) return 0;
  std::lock_guard<std::mutex> lock(b.mu);
  int n = 0;
  for (auto& r : b.regs) {
    if (!r.owed || n >= max) continue;
    out[n++] = EpDebt{r.epfd, r.fd, r.events, r.data, r.owed};
    r.owed = 0;
    b.owed_count.fetch_sub(1, std::memory_order_relaxed);
  }
  return n;
}

int ep_spurious(int epfd, epoll_event* events, int n, int maxevents, uint64_t pick, bool (*eligible)(int, void*),
                void* ctx, bool (*ready)(int, uint32_t), int* fd_out) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  *fd_out = -1;
  if (n >= maxevents) return n;
  std::vector<const Reg*> cands;
  for (const auto& r : b.regs) {
    if (r.epfd != epfd || (r.events & EPOLLONESHOT) || !(r.events & (EPOLLIN | EPOLLOUT))) continue;
    bool reported = false;
    for (int i = 0; i < n; ++i) reported |= events[i].data.u64 == r.data;
    const uint32_t bit = (r.events & EPOLLIN) ? EPOLLIN : EPOLLOUT;
    if (!reported && eligible(r.fd, ctx) && !ready(r.fd, bit)) cands.push_back(&r);
  }
  if (cands.empty()) return n;
  const Reg& c = *cands[pick % cands.size()];
  events[n].events = (c.events & EPOLLIN) ? EPOLLIN : EPOLLOUT;
  events[n].data.u64 = c.data;
  *fd_out = c.fd;
  return n + 1;
}

int ep_registered(int epfd, int* out, int max) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  int n = 0;
  for (const auto& r : b.regs)
    if (r.epfd == epfd && n < max) out[n++] = r.fd;
  return n;
}

uint64_t ep_next_wait(int epfd) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  for (auto& w : b.waits)
    if (w.first == epfd) return ++w.second;
  b.waits.emplace_back(epfd, 1);
  return 1;
}

int ep_fd_of(int epfd, uint64_t data) {
  EpollBook& b = book();
  std::lock_guard<std::mutex> lock(b.mu);
  for (const auto& r : b.regs)
    if (r.epfd == epfd && r.data == data) return r.fd;
  return -1;
}

EpollBook* ep_book_new(const EpollBook* parent) {
  auto* b = new EpollBook();
  if (parent) {
    b->regs = parent->regs;
    b->waits = parent->waits;
    b->owed_count.store(parent->owed_count.load());
  }
  return b;
}

void ep_book_free(EpollBook* b) { delete b; }

std::string epoll_flag_names(uint32_t ev) {
  static constexpr struct { uint32_t bit; const char* name; } kBits[] = {
      {EPOLLIN, "EPOLLIN"},       {EPOLLPRI, "EPOLLPRI"},         {EPOLLOUT, "EPOLLOUT"},
      {EPOLLERR, "EPOLLERR"},     {EPOLLHUP, "EPOLLHUP"},         {EPOLLRDHUP, "EPOLLRDHUP"},
      {EPOLLRDNORM, "EPOLLRDNORM"}, {EPOLLWRNORM, "EPOLLWRNORM"}, {EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"},
      {EPOLLWAKEUP, "EPOLLWAKEUP"}, {EPOLLONESHOT, "EPOLLONESHOT"}, {EPOLLET, "EPOLLET"},
  };
  std::string s;
  for (const auto& b : kBits)
    if (ev & b.bit) s += (s.empty() ? "" : "|") + std::string(b.name);
  return s;
}

}  // namespace iogate
