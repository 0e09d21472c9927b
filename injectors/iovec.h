// Trimming scatter/gather requests to at most n bytes for partial faults
// (V4): the kernel gets a shortened copy of the iovec array (the user's is
// never modified); recvmsg's results (flags, lengths) are copied back.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <climits>
#include <cstddef>
#include <type_traits>

namespace iogate {

inline size_t iov_total(const struct iovec* iov, size_t cnt) {
  size_t total = 0;
  for (size_t i = 0; iov && i < cnt; ++i) total += iov[i].iov_len;
  return total;
}

// Calls fn(iov', cnt') where iov' covers the first n bytes of iov.
template <typename Fn>
auto with_trimmed_iov(const struct iovec* iov, size_t cnt, size_t n, Fn&& fn) {
  if (n >= iov_total(iov, cnt) || cnt > IOV_MAX) return fn(iov, static_cast<int>(cnt));
  struct iovec copy[IOV_MAX];
  size_t used = 0;
  for (size_t i = 0; i < cnt && n > 0; ++i, ++used) {
    copy[i] = iov[i];
    if (copy[i].iov_len > n) copy[i].iov_len = n;
    n -= copy[i].iov_len;
  }
  return fn(copy, static_cast<int>(used));
}

template <typename Msg, typename Fn>
auto with_trimmed_msg(Msg* msg, size_t n, Fn&& fn) {
  struct msghdr m = *msg;
  return with_trimmed_iov(msg->msg_iov, msg->msg_iovlen, n, [&](const struct iovec* v, int c) {
    m.msg_iov = const_cast<struct iovec*>(v);
    m.msg_iovlen = static_cast<size_t>(c);
    auto r = fn(&m);
    if constexpr (!std::is_const_v<Msg>) {  // recvmsg reports back through the header
      msg->msg_flags = m.msg_flags;
      msg->msg_controllen = m.msg_controllen;
      msg->msg_namelen = m.msg_namelen;
    }
    return r;
  });
}

}  // namespace iogate
