// Demultiplexer over epoll(7), level-triggered (no EPOLLET): an fd is
// reported at every epoll_wait(2) while it stays ready, so a handler may do
// one recv() per event. epoll_ctl(2): EPOLLERR and EPOLLHUP are always
// reported (hence the Reactor removes fds that wait for nothing).
// Ownership: owns the epoll fd; borrows the watched fds. Loop thread only.
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "reactor.h"

namespace iogate::reactor {
namespace {

class EpollDemultiplexer final : public Demultiplexer {
 public:
  explicit EpollDemultiplexer(int epfd) : epfd_(epfd), events_(256) {}
  ~EpollDemultiplexer() override { close(epfd_); }

  bool add(int fd, uint32_t interest) override { return ctl(EPOLL_CTL_ADD, fd, interest); }
  bool modify(int fd, uint32_t interest) override { return ctl(EPOLL_CTL_MOD, fd, interest); }
  void remove(int fd) override { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

  int wait(std::vector<Fired>& fired, int timeout_ms) override {
    fired.clear();
    int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      const uint32_t e = events_[i].events;
      uint32_t bits = 0;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) bits |= kReadable;
      if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) bits |= kWritable;
      fired.push_back({events_[i].data.fd, bits});
    }
    return n;
  }

  const char* name() const override { return "epoll"; }

 private:
  bool ctl(int op, int fd, uint32_t interest) {
    epoll_event ev{};
    ev.events = ((interest & kReadable) ? EPOLLIN | EPOLLRDHUP : 0u) |
                ((interest & kWritable) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    return epoll_ctl(epfd_, op, fd, &ev) == 0;
  }

  int epfd_;
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Demultiplexer> make_epoll_demultiplexer() {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return nullptr;
  return std::make_unique<EpollDemultiplexer>(epfd);
}

}  // namespace iogate::reactor
