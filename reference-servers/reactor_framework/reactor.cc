// The Reactor's event loop (see reactor.h for ownership and thread rules) and
// the demultiplexer factory. Each demultiplexer lives in its own file:
// demux_select.cc, demux_poll.cc, demux_epoll.cc.
#include "reactor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "errclass.h"

namespace iogate::reactor {

std::unique_ptr<Demultiplexer> make_select_demultiplexer();
std::unique_ptr<Demultiplexer> make_poll_demultiplexer();
std::unique_ptr<Demultiplexer> make_epoll_demultiplexer();

std::unique_ptr<Demultiplexer> make_demultiplexer(const std::string& name) {
  if (name == "select") return make_select_demultiplexer();
  if (name == "poll") return make_poll_demultiplexer();
  if (name == "epoll") return make_epoll_demultiplexer();
  errno = EINVAL;
  return nullptr;
}

// Drains the eventfd that queue()/stop() write from other threads; the
// queued functions themselves run after the batch (run_queued).
class Reactor::Wakeup final : public EventHandler {
 public:
  explicit Wakeup(int fd) : fd_(fd) {}
  int handle() const override { return fd_; }
  void handle_event(uint32_t) override {
    uint64_t count;
    // EAGAIN: a spurious wake-up, or another round drained it already.
    while (read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
    }
  }

 private:
  int fd_;
};

std::unique_ptr<Reactor> Reactor::create(std::unique_ptr<Demultiplexer> demux) {
  if (!demux) {
    errno = EINVAL;
    return nullptr;
  }
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return nullptr;
  std::unique_ptr<Reactor> r(new Reactor(std::move(demux), fd));
  if (!r->register_handler(r->wakeup_.get(), kReadable)) return nullptr;  // closes fd
  return r;
}

Reactor::Reactor(std::unique_ptr<Demultiplexer> demux, int wake_fd)
    : demux_(std::move(demux)),
      wake_fd_(wake_fd),
      wakeup_(std::make_unique<Wakeup>(wake_fd)),
      loop_thread_(std::this_thread::get_id()) {}

Reactor::~Reactor() {
  demux_.reset();  // the epoll fd first: it still names wake_fd_
  close(wake_fd_);
}

bool Reactor::register_handler(EventHandler* h, uint32_t interest) {
  assert(in_loop_thread());
  const int fd = h->handle();
  assert(slots_.count(fd) == 0 && "fd registered twice");
  if (interest != 0 && !demux_->add(fd, interest)) return false;
  slots_[fd] = Slot{h, interest, next_generation_++};
  return true;
}

bool Reactor::modify(EventHandler* h, uint32_t interest) {
  assert(in_loop_thread());
  auto it = slots_.find(h->handle());
  assert(it != slots_.end() && it->second.handler == h);
  Slot& s = it->second;
  if (s.interest == interest) return true;
  bool ok = true;
  if (interest == 0) {
    demux_->remove(it->first);
  } else if (s.interest == 0) {
    ok = demux_->add(it->first, interest);
  } else {
    ok = demux_->modify(it->first, interest);
  }
  if (ok) s.interest = interest;
  return ok;
}

void Reactor::remove_handler(EventHandler* h) {
  assert(in_loop_thread());
  auto it = slots_.find(h->handle());
  assert(it != slots_.end() && it->second.handler == h);
  if (it->second.interest != 0) demux_->remove(it->first);
  slots_.erase(it);
}

void Reactor::run_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  assert(in_loop_thread());
  timers_.emplace(Clock::now() + delay, std::move(fn));
}

void Reactor::stop() {
  stopping_.store(true);
  wake();
}

void Reactor::queue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queued_.push_back(std::move(fn));
  }
  // The running loop drains its queue before it waits again: no wake-up.
  if (!(running_.load() && in_loop_thread())) wake();
}

void Reactor::wake() {
  uint64_t one = 1;
  // EAGAIN: the counter is saturated, a wake-up is pending anyway.
  while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

int Reactor::next_timeout_ms() const {
  if (timers_.empty()) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

void Reactor::run_timers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    std::function<void()> fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    fn();  // may add timers
  }
}

void Reactor::run_queued() {
  for (;;) {  // functions queued by queued functions run in this round too
    std::vector<std::function<void()>> todo;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      todo.swap(queued_);
    }
    if (todo.empty()) return;
    for (auto& fn : todo) fn();
  }
}

int Reactor::run() {
  loop_thread_.store(std::this_thread::get_id());
  running_.store(true);
  while (!stopping_.load()) {
    int n = demux_->wait(fired_, next_timeout_ms());
    int err = errno;
    switch (classify_wait(n, err)) {
      case WaitClass::ready:
        break;
      case WaitClass::retry:  // EINTR: wait again (timers and queue first)
        n = 0;
        break;
      case WaitClass::fatal:
        errno = err;
        std::perror(demux_->name());
        running_.store(false);
        return 1;
    }
    // Pin each event to the registration it was reported for: a handler may
    // remove (and its owner free) another one, and an fd number may be
    // reused by a new registration before the batch is done.
    batch_.clear();
    for (int i = 0; i < n; ++i) {
      auto it = slots_.find(fired_[i].fd);
      if (it != slots_.end()) batch_.push_back({fired_[i].fd, fired_[i].events, it->second.generation});
    }
    for (const Ready& r : batch_) {
      auto it = slots_.find(r.fd);
      if (it == slots_.end() || it->second.generation != r.generation) continue;
      const uint32_t events = r.events & it->second.interest;
      if (events != 0) it->second.handler->handle_event(events);  // `it` is dead after this
    }
    run_timers();
    run_queued();
  }
  run_queued();
  running_.store(false);
  return 0;
}

}  // namespace iogate::reactor
