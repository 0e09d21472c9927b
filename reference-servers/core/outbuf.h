// OutBuf: the bytes a connection still owes its peer. IO-free: the servers
// append the replies of the protocol core, send() from data()/size(), and
// consume() exactly what send() reported, so a short send resumes at the
// first unsent byte (send(2): "return the number of bytes sent").
//
// Ownership: one OutBuf per connection, owned by whoever owns the connection
// (the Conn record of the event loop, or the blocking serve() frame).
// Thread rules: none of its own; used by one thread at a time.
#pragma once

#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>

namespace iogate {

class OutBuf {
 public:
  void append(const char* p, std::size_t n) { buf_.append(p, n); }
  void append(std::string_view s) { buf_.append(s.data(), s.size()); }

  // The unsent part: valid until the next append() or consume().
  const char* data() const { return buf_.data() + off_; }
  std::size_t size() const { return buf_.size() - off_; }
  bool empty() const { return off_ == buf_.size(); }

  // Drop the first `n` unsent bytes (those the kernel accepted).
  void consume(std::size_t n) {
    assert(n <= size());
    off_ += n;
    if (off_ == buf_.size()) {
      buf_.clear();  // keeps the capacity for the next replies
      off_ = 0;
    } else if (off_ >= kCompactAt && off_ >= buf_.size() / 2) {
      // Move the tail to the front only once the sent prefix dominates, so a
      // run of tiny sends costs amortised O(1) per byte, not O(size) each.
      buf_.erase(0, off_);
      off_ = 0;
    }
  }

 private:
  static constexpr std::size_t kCompactAt = 64 * 1024;
  std::string buf_;
  std::size_t off_ = 0;  // index of the first unsent byte in buf_
};

}  // namespace iogate
