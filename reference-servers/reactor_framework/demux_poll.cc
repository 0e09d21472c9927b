// Demultiplexer over poll(2): one pollfd per watched fd, level-triggered.
// poll(2): POLLERR, POLLHUP and POLLNVAL are returned whether asked for or
// not (hence the Reactor removes fds that wait for nothing).
// Ownership: owns the pollfd array; borrows the watched fds. Loop thread only.
#include <poll.h>

#include <cerrno>
#include <memory>
#include <unordered_map>
#include <vector>

#include "reactor.h"

namespace iogate::reactor {
namespace {

short poll_bits(uint32_t interest) {
  return static_cast<short>(((interest & kReadable) ? POLLIN | POLLRDHUP : 0) |
                            ((interest & kWritable) ? POLLOUT : 0));
}

class PollDemultiplexer final : public Demultiplexer {
 public:
  bool add(int fd, uint32_t interest) override {
    if (index_.count(fd) != 0) {
      errno = EEXIST;
      return false;
    }
    index_[fd] = fds_.size();
    fds_.push_back({fd, poll_bits(interest), 0});
    return true;
  }

  bool modify(int fd, uint32_t interest) override {
    auto it = index_.find(fd);
    if (it == index_.end()) {
      errno = ENOENT;
      return false;
    }
    fds_[it->second].events = poll_bits(interest);
    return true;
  }

  void remove(int fd) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return;
    const std::size_t i = it->second;
    index_.erase(it);
    if (i + 1 != fds_.size()) {  // move the last entry into the hole
      fds_[i] = fds_.back();
      index_[fds_[i].fd] = i;
    }
    fds_.pop_back();
  }

  int wait(std::vector<Fired>& fired, int timeout_ms) override {
    fired.clear();
    int n = poll(fds_.data(), fds_.size(), timeout_ms);
    if (n <= 0) return n;
    for (const pollfd& p : fds_) {
      if (p.revents == 0) continue;
      uint32_t bits = 0;
      if (p.revents & (POLLIN | POLLRDHUP | POLLERR | POLLHUP | POLLNVAL)) bits |= kReadable;
      if (p.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) bits |= kWritable;
      fired.push_back({p.fd, bits});
    }
    return static_cast<int>(fired.size());
  }

  const char* name() const override { return "poll"; }

 private:
  std::vector<pollfd> fds_;
  std::unordered_map<int, std::size_t> index_;  // fd -> position in fds_
};

}  // namespace

std::unique_ptr<Demultiplexer> make_poll_demultiplexer() {
  return std::make_unique<PollDemultiplexer>();
}

}  // namespace iogate::reactor
