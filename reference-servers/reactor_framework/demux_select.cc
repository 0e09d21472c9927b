// Demultiplexer over select(2): two master fd_sets copied for each wait,
// level-triggered. select(2): FD_SET() with fd >= FD_SETSIZE is undefined
// behavior, so such an fd is refused (EINVAL) instead of being watched.
// Ownership: owns the master sets; borrows the watched fds. Loop thread only.
#include <sys/select.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "reactor.h"

namespace iogate::reactor {
namespace {

class SelectDemultiplexer final : public Demultiplexer {
 public:
  SelectDemultiplexer() {
    FD_ZERO(&rd_);
    FD_ZERO(&wr_);
  }

  bool add(int fd, uint32_t interest) override { return modify(fd, interest); }

  bool modify(int fd, uint32_t interest) override {
    if (fd < 0 || fd >= FD_SETSIZE) {
      errno = EINVAL;
      return false;
    }
    if (interest & kReadable) {
      FD_SET(fd, &rd_);
    } else {
      FD_CLR(fd, &rd_);
    }
    if (interest & kWritable) {
      FD_SET(fd, &wr_);
    } else {
      FD_CLR(fd, &wr_);
    }
    if (fd > max_fd_) max_fd_ = fd;
    return true;
  }

  void remove(int fd) override {
    if (fd < 0 || fd >= FD_SETSIZE) return;
    FD_CLR(fd, &rd_);
    FD_CLR(fd, &wr_);
    while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &rd_) && !FD_ISSET(max_fd_, &wr_)) --max_fd_;
  }

  int wait(std::vector<Fired>& fired, int timeout_ms) override {
    fired.clear();
    fd_set rd = rd_, wr = wr_;
    timeval tv{};
    if (timeout_ms >= 0) {
      tv.tv_sec = timeout_ms / 1000;
      tv.tv_usec = (timeout_ms % 1000) * 1000;
    }
    int n = select(max_fd_ + 1, &rd, &wr, nullptr, timeout_ms >= 0 ? &tv : nullptr);
    if (n <= 0) return n;
    for (int fd = 0; fd <= max_fd_; ++fd) {
      const uint32_t bits = (FD_ISSET(fd, &rd) ? kReadable : 0u) | (FD_ISSET(fd, &wr) ? kWritable : 0u);
      if (bits != 0) fired.push_back({fd, bits});
    }
    return static_cast<int>(fired.size());
  }

  const char* name() const override { return "select"; }

 private:
  fd_set rd_, wr_;   // what each fd waits for
  int max_fd_ = -1;  // highest fd in either set
};

}  // namespace

std::unique_ptr<Demultiplexer> make_select_demultiplexer() {
  return std::make_unique<SelectDemultiplexer>();
}

}  // namespace iogate::reactor
