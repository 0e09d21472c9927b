// iogate-callprobe CALL MODE: performs one intercepted call on a loopback TCP
// connection to itself and prints what it got as one JSON line, so the pytest
// matrix (suites/shim/test_matrix.py) can check every call x fault row of the
// fault table under the shim.
//
//   CALL: recv recvfrom recvmsg read readv send sendto sendmsg write writev
//         accept accept4 epoll_wait epoll_pwait epoll_pwait2 select pselect poll
//         ppoll aio_suspend aio_read aio_write uring_recv uring_send
//   MODE: nb   the fd under test is O_NONBLOCK
//         blk  blocking fd
//         sig  blocking fd and a SIGUSR1 handler without SA_RESTART (EINTR legal)
//         sigblk  as sig, with SIGUSR1 blocked in the (only) thread: the
//              signal cannot interrupt it, EINTR is not legal
//         inf  (waits) non-blocking fds, an infinite timeout, and a SIGALRM
//              handler armed to fire after 300 ms: the wait can only end
//              with EINTR (or an event)
// Data calls move 10 bytes ("0123456789" is queued for reads). Waits watch an
// idle connection and the listener for input (200 ms, or forever with inf)
// and report how long they took (elapsed_us); aio_suspend waits for an
// aio_read of the idle connection (made blocking, so the read stays in
// progress) and reports a timeout as -1/EAGAIN. Afterwards the peer side
// reports what it sees: "data", "EOF", "RST" or "open".
//
// Ownership: single-threaded; every fd is closed by exiting.
#include <aio.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

int g_listener, g_client, g_server;  // the server side is the fd under test

void die(const char* what) {
  std::printf("{\"error\":\"%s: %s\"}\n", what, std::strerror(errno));
  std::exit(3);
}

void setup(bool nonblocking_listener) {
  g_listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(g_listener, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(g_listener, 8)) die("listen");
  socklen_t len = sizeof a;
  getsockname(g_listener, reinterpret_cast<sockaddr*>(&a), &len);
  g_client = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(g_client, reinterpret_cast<sockaddr*>(&a), sizeof a)) die("connect");
  if (nonblocking_listener) fcntl(g_listener, F_SETFL, O_NONBLOCK);
}

void accept_server(bool nonblocking) {
  // Take the connection without the accept wrappers' faults mattering: the
  // plans of data-call rows have no accept rule.
  g_server = accept(g_listener, nullptr, nullptr);
  if (g_server < 0) die("accept");
  if (nonblocking) fcntl(g_server, F_SETFL, O_NONBLOCK);
}

const char* peer_state() {
  char b[64];
  pollfd p{g_client, POLLIN, 0};
  if (poll(&p, 1, 300) <= 0) return "open";
  ssize_t n = recv(g_client, b, sizeof b, MSG_DONTWAIT);
  if (n > 0) return "data";
  if (n == 0) return "EOF";
  return errno == ECONNRESET ? "RST" : "open";
}

void report(const char* call, long ret, int err, const std::string& data, int ready_fd = -1, long long elapsed_us = -1) {
  std::printf("{\"call\":\"%s\",\"ret\":%ld,\"errno\":\"%s\",\"data\":\"%s\",\"ready_fd\":%d,\"listener\":%d,"
              "\"conn\":%d,\"elapsed_us\":%lld,\"peer\":\"%s\"}\n",
              call, ret, err ? strerrorname_np(err) : "", data.c_str(), ready_fd, g_listener, g_server, elapsed_us,
              peer_state());
}

void on_usr1(int) {}
void on_alrm(int) {}

long long now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

long data_call(const std::string& c, char* buf, size_t len) {
  static const char kOut[] = "0123456789";
  if (c == "recv") return recv(g_server, buf, len, 0);
  if (c == "recvfrom") return recvfrom(g_server, buf, len, 0, nullptr, nullptr);
  if (c == "read") return read(g_server, buf, len);
  iovec iov[2] = {{buf, 4}, {buf + 4, len - 4}};
  if (c == "readv") return readv(g_server, iov, 2);
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  if (c == "recvmsg") return recvmsg(g_server, &m, 0);
  if (c == "send") return send(g_server, kOut, 10, MSG_NOSIGNAL);
  if (c == "sendto") return sendto(g_server, kOut, 10, MSG_NOSIGNAL, nullptr, 0);
  if (c == "write") return write(g_server, kOut, 10);
  iovec out[2] = {{const_cast<char*>(kOut), 4}, {const_cast<char*>(kOut) + 4, 6}};
  if (c == "writev") return writev(g_server, out, 2);
  m.msg_iov = out;
  if (c == "sendmsg") return sendmsg(g_server, &m, MSG_NOSIGNAL);
  errno = EINVAL;
  return -2;
}

long wait_call(const std::string& c, int* ready, bool forever) {
  *ready = -1;
  if (c.rfind("epoll", 0) == 0) {
    int ep = epoll_create1(0);
    epoll_event ev{EPOLLIN, {}};
    ev.data.fd = g_server;
    epoll_ctl(ep, EPOLL_CTL_ADD, g_server, &ev);
    ev.data.fd = g_listener;
    epoll_ctl(ep, EPOLL_CTL_ADD, g_listener, &ev);
    epoll_event out[4];
    timespec ts{0, 200000000};
    const int ms = forever ? -1 : 200;
    long n = c == "epoll_wait" ? epoll_wait(ep, out, 4, ms)
             : c == "epoll_pwait" ? epoll_pwait(ep, out, 4, ms, nullptr)
                                  : epoll_pwait2(ep, out, 4, forever ? nullptr : &ts, nullptr);
    if (n > 0) *ready = out[0].data.fd;
    return n;
  }
  if (c == "select" || c == "pselect") {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(g_server, &rd);
    FD_SET(g_listener, &rd);
    timeval tv{0, 200000};
    timespec ts{0, 200000000};
    const int nfds = (g_server > g_listener ? g_server : g_listener) + 1;
    long n = c == "select" ? select(nfds, &rd, nullptr, nullptr, forever ? nullptr : &tv)
                           : pselect(nfds, &rd, nullptr, nullptr, forever ? nullptr : &ts, nullptr);
    if (n > 0) *ready = FD_ISSET(g_server, &rd) ? g_server : g_listener;
    return n;
  }
  if (c == "aio_suspend") {
    static char in[10];
    static aiocb cb{};
    fcntl(g_server, F_SETFL, 0);  // a blocking read: glibc's worker waits in it
    cb.aio_fildes = g_server;
    cb.aio_buf = in;
    cb.aio_nbytes = sizeof in;
    if (aio_read(&cb) != 0) die("aio_read");
    const aiocb* list[1] = {&cb};
    timespec ts{0, 200000000};
    long n = aio_suspend(list, 1, forever ? nullptr : &ts);
    if (n == 0) *ready = g_server;
    return n;
  }
  pollfd p[2] = {{g_server, POLLIN, 0}, {g_listener, POLLIN, 0}};
  timespec ts{0, 200000000};
  long n = c == "poll" ? poll(p, 2, forever ? -1 : 200) : ppoll(p, 2, forever ? nullptr : &ts, nullptr);
  if (n > 0) *ready = p[0].revents ? g_server : g_listener;
  return n;
}

long aio_call(const std::string& c, char* buf, int* err) {
  static char out[] = "0123456789";
  aiocb cb{};
  cb.aio_fildes = g_server;
  cb.aio_buf = c == "aio_read" ? buf : out;
  cb.aio_nbytes = 10;
  if ((c == "aio_read" ? aio_read(&cb) : aio_write(&cb)) != 0) die("aio submit");
  const aiocb* list[1] = {&cb};
  while (aio_error(&cb) == EINPROGRESS) aio_suspend(list, 1, nullptr);
  *err = aio_error(&cb);
  if (cb.aio_nbytes != 10) die("aio_nbytes changed under the application");
  return aio_return(&cb);
}

long uring_call(const std::string& c, char* buf, int* err) {
  static char out[] = "0123456789";
  io_uring ring;
  if (io_uring_queue_init(4, &ring, 0) < 0) die("io_uring_queue_init");
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (c == "uring_recv") io_uring_prep_recv(sqe, g_server, buf, 10, 0);
  else io_uring_prep_send(sqe, g_server, out, 10, MSG_NOSIGNAL);
  io_uring_submit(&ring);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe(&ring, &cqe) < 0) die("io_uring_wait_cqe");
  const long res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  *err = res < 0 ? static_cast<int>(-res) : 0;
  return res < 0 ? -1 : res;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CALL nb|blk|sig|sigblk|inf\n", argv[0]);
    return 2;
  }
  const std::string call = argv[1], mode = argv[2];
  const bool nb = mode == "nb" || mode == "inf";
  signal(SIGPIPE, SIG_IGN);
  if (mode == "sig" || mode == "sigblk") {
    struct sigaction sa {};
    sa.sa_handler = on_usr1;  // no SA_RESTART: a blocking socket call could end with EINTR
    sigaction(SIGUSR1, &sa, nullptr);
  }
  if (mode == "sigblk") {  // ... unless the thread blocks it (a worker that leaves signals to a sigwait thread)
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  }
  char buf[64] = {};
  if (call == "accept" || call == "accept4") {
    setup(nb);
    int fd = call == "accept" ? accept(g_listener, nullptr, nullptr) : accept4(g_listener, nullptr, nullptr, 0);
    const int err = fd < 0 ? errno : 0;
    g_server = fd;
    int again = -1;
    if (fd < 0 && (err == EMFILE || err == EAGAIN || err == EINTR)) {  // still queued?
      fcntl(g_listener, F_SETFL, O_NONBLOCK);
      again = accept4(g_listener, nullptr, nullptr, 0);  // the plan's count=1 is spent: a real accept
    }
    report(call.c_str(), fd, err, again >= 0 ? "requeued" : "");
    return 0;
  }
  setup(false);
  accept_server(nb);
  long r;
  int err = 0, ready = -1;
  if (call.find("poll") != std::string::npos || call.find("select") != std::string::npos ||
      call.rfind("epoll", 0) == 0 || call == "aio_suspend") {
    if (mode == "inf") {
      struct sigaction sa {};
      sa.sa_handler = on_alrm;  // ends the infinite wait with EINTR
      sigaction(SIGALRM, &sa, nullptr);
      itimerval it{{0, 0}, {0, 300000}};
      setitimer(ITIMER_REAL, &it, nullptr);
    }
    const long long t0 = now_us();
    r = wait_call(call, &ready, mode == "inf");
    err = r < 0 ? errno : 0;
    const long long elapsed = now_us() - t0;
    std::string after;
    if (ready == g_server && call != "aio_suspend") {  // spurious: the next read gets the kernel's own EAGAIN
      fcntl(g_server, F_SETFL, O_NONBLOCK);
      after = recv(g_server, buf, 10, 0) < 0 && errno == EAGAIN ? "EAGAIN" : "data";
    }
    report(call.c_str(), r, err, after, ready, elapsed);
    return 0;
  }
  if (call.rfind("aio_", 0) == 0 || call.rfind("uring_", 0) == 0) {
    if (call.find("recv") != std::string::npos || call == "aio_read") send(g_client, "0123456789", 10, 0);
    r = call[0] == 'a' ? aio_call(call, buf, &err) : uring_call(call, buf, &err);
    report(call.c_str(), r, err, r > 0 && buf[0] ? std::string(buf, static_cast<size_t>(r)) : "");
    return 0;
  }
  const bool reading = call.rfind("recv", 0) == 0 || call.rfind("read", 0) == 0;
  if (reading) {
    send(g_client, "0123456789", 10, 0);
    pollfd p{g_server, POLLIN, 0};
    poll(&p, 1, 2000);  // until the bytes are there (the matrix plans have no wait rule)
  }
  r = data_call(call, buf, 10);
  err = r < 0 ? errno : 0;
  report(call.c_str(), r, err, reading && r > 0 ? std::string(buf, static_cast<size_t>(r)) : "");
  return 0;
}
