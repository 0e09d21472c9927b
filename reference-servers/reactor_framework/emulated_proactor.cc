// The emulated Proactor (see emulated_proactor.h for ownership and threads).
#include "emulated_proactor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "net.h"

namespace iogate::reactor {

AsyncSocket::~AsyncSocket() { ::close(fd_); }

void AsyncSocket::handle_event(uint32_t events) { px_.on_ready(shared_from_this(), events); }

Proactor::Proactor(Reactor& reactor, int threads) : reactor_(reactor) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

Proactor::~Proactor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Proactor::adopt(const SocketPtr& s) {
  reactor_.register_handler(s.get(), 0);  // interest 0: no syscall, cannot fail
  live_.emplace(s.get(), s);
}

bool Proactor::async_read(const SocketPtr& s, Completion done) { return begin(s, kRead, done, {}); }

bool Proactor::async_write(const SocketPtr& s, std::string data, Completion done) {
  return begin(s, kWrite, done, data);
}

bool Proactor::begin(const SocketPtr& s, Dir d, Completion done, std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    AsyncSocket::Operation& op = s->ops_[d];
    if (s->closed_ || op.state != AsyncSocket::State::idle) return false;
    op.state = AsyncSocket::State::armed;
    op.done = done;
    op.len = data.size();
    op.buf.append(data);
  }
  rearm(s);
  return true;
}

void Proactor::close(const SocketPtr& s) {
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    if (s->closed_) return;
    s->closed_ = true;
    for (AsyncSocket::Operation& op : s->ops_) {
      if (op.state == AsyncSocket::State::armed) op.state = AsyncSocket::State::idle;
    }
  }
  reactor_.queue([this, s] {
    reactor_.remove_handler(s.get());
    live_.erase(s.get());
  });
}

void Proactor::on_ready(const SocketPtr& s, uint32_t events) {
  bool go[2];
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    for (Dir d : {kRead, kWrite}) {
      const uint32_t bit = d == kRead ? kReadable : kWritable;
      go[d] = (events & bit) && s->ops_[d].state == AsyncSocket::State::armed;
      if (go[d]) s->ops_[d].state = AsyncSocket::State::running;
    }
  }
  for (Dir d : {kRead, kWrite}) {
    if (go[d]) submit([this, s, d] { perform(s, d); });
  }
  sync_interest(s);  // a running operation is not watched: LT would report it again
}

void Proactor::rearm(const SocketPtr& s) {
  reactor_.queue([this, s] { sync_interest(s); });
}

void Proactor::sync_interest(const SocketPtr& s) {
  if (live_.count(s.get()) == 0) return;  // closed meanwhile
  uint32_t want;
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    want = (s->ops_[kRead].state == AsyncSocket::State::armed ? kReadable : 0u) |
           (s->ops_[kWrite].state == AsyncSocket::State::armed ? kWritable : 0u);
  }
  if (!reactor_.modify(s.get(), want)) close(s);  // ENOMEM: this socket only
}

// One recv() (EINTR retried), or send() until the buffer is empty or EAGAIN.
void Proactor::perform(const SocketPtr& s, Dir d) {
  char buf[4096];
  ssize_t n = 0;
  IoClass cls;
  if (d == kRead) {
    do {
      n = recv(s->fd_, buf, sizeof buf, 0);
      cls = classify_recv(n, errno);
    } while (cls == IoClass::retry);
  } else {
    cls = flush_nonblocking(s->fd_, s->ops_[kWrite].buf);  // running: this worker's alone
  }
  Completion done = nullptr;
  std::size_t count = n > 0 ? static_cast<std::size_t>(n) : 0;
  bool again;
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    AsyncSocket::Operation& op = s->ops_[d];
    again = cls == IoClass::would_block && !s->closed_;
    op.state = again ? AsyncSocket::State::armed : AsyncSocket::State::idle;
    if (!again) {
      std::swap(done, op.done);
      if (d == kWrite) count = op.len - op.buf.size();
      op.buf.consume(op.buf.size());
    }
  }
  if (again) {
    rearm(s);  // spurious readiness, EAGAIN, or the rest of a short send
  } else if (done != nullptr && cls != IoClass::would_block) {
    done(s, cls, d == kRead ? buf : nullptr, count);
  }
}

void Proactor::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void Proactor::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace iogate::reactor
