#include "errclass.h"

#include <cerrno>

namespace iogate {

namespace {
IoClass classify_error(int err) {
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return IoClass::would_block;
    case EINTR:
      return IoClass::retry;
    default:
      return IoClass::peer_gone;
  }
}
}  // namespace

IoClass classify_recv(ssize_t n, int err) {
  if (n > 0) return IoClass::progress;
  if (n == 0) return IoClass::closed;
  return classify_error(err);
}

IoClass classify_send(ssize_t n, int err) {
  if (n > 0) return IoClass::progress;
  if (n == 0) return IoClass::retry;
  return classify_error(err);
}

AcceptClass classify_accept(int fd, int err) {
  if (fd >= 0) return AcceptClass::accepted;
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return AcceptClass::would_block;
    // accept(2): Linux passes already-pending network errors on the new
    // socket; "the application should ... treat them like EAGAIN by retrying".
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ENETDOWN:
    case EPERM:  // firewall rules forbid the connection
      return AcceptClass::retry;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return AcceptClass::out_of_fds;
    default:
      return AcceptClass::fatal;
  }
}

WaitClass classify_wait(int n, int err) {
  if (n >= 0) return WaitClass::ready;
  return err == EINTR ? WaitClass::retry : WaitClass::fatal;
}

const char* io_class_name(IoClass c) {
  switch (c) {
    case IoClass::progress: return "progress";
    case IoClass::closed: return "closed";
    case IoClass::would_block: return "would_block";
    case IoClass::retry: return "retry";
    case IoClass::peer_gone: return "peer_gone";
  }
  return "?";
}

const char* accept_class_name(AcceptClass c) {
  switch (c) {
    case AcceptClass::accepted: return "accepted";
    case AcceptClass::would_block: return "would_block";
    case AcceptClass::retry: return "retry";
    case AcceptClass::out_of_fds: return "out_of_fds";
    case AcceptClass::fatal: return "fatal";
  }
  return "?";
}

}  // namespace iogate
