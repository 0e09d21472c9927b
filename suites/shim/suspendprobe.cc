// iogate-suspendprobe HANDLER TIMEOUT_MS SEND: one aio_read of 10 bytes on
// a blocking loopback TCP connection, waited for with aio_suspend until it
// completes, each call's outcome printed, so suites/shim/test_suspend.py can
// check the sequence a wait plan makes of it under the shim.
//
//   HANDLER:    none       no caught signal
//               restart    a SIGUSR1 handler with SA_RESTART
//               norestart  a SIGUSR1 handler without SA_RESTART
//               blocked    norestart, and SIGUSR1 blocked in this thread
//   TIMEOUT_MS: aio_suspend's timeout (-1: none, NULL)
//   SEND:       K > 0   the peer sends "0123456789" just before the K-th call
//               -MS     a thread of the peer sends it MS milliseconds after the
//                       request was submitted
//               0       sent, and the request completed (aio_error polled),
//                       before the first call
// Prints one JSON line: "calls" [[ret, errno, ms, aio_nbytes after it], ...],
// then aio_error, aio_return and the data read. At most 50 calls; SIGALRM
// (default action) ends a probe that hangs after 10 s.
//
// Ownership: the main thread owns every fd and the aiocb; the sender thread
// only writes to the peer's fd.
#include <aio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

void die(const char* what) {
  std::printf("{\"error\":\"%s: %s\"}\n", what, std::strerror(errno));
  std::exit(3);
}

void on_usr1(int) {}

long long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void pause_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// A connected pair: *server (accepted) and *peer.
void connect_pair(int* server, int* peer) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(listener, 1)) die("listen");
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  *peer = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(*peer, reinterpret_cast<sockaddr*>(&a), sizeof a)) die("connect");
  *server = accept(listener, nullptr, nullptr);
  if (*server < 0) die("accept");
  close(listener);
}

void handler(const std::string& how) {
  if (how == "none") return;
  struct sigaction sa {};
  sa.sa_handler = on_usr1;
  sa.sa_flags = how == "restart" ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, nullptr);
  if (how == "blocked") {
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s none|restart|norestart|blocked TIMEOUT_MS SEND\n", argv[0]);
    return 2;
  }
  const long timeout_ms = std::atol(argv[2]);
  const long send = std::atol(argv[3]);
  alarm(10);
  handler(argv[1]);
  int server, peer;
  connect_pair(&server, &peer);
  char buf[16] = {};
  aiocb cb{};
  cb.aio_fildes = server;
  cb.aio_buf = buf;
  cb.aio_nbytes = 10;
  if (aio_read(&cb) != 0) die("aio_read");
  std::thread sender;
  if (send < 0) sender = std::thread([&] { pause_ms(-send); (void)::send(peer, "0123456789", 10, 0); });
  if (send == 0) {
    (void)::send(peer, "0123456789", 10, 0);
    while (aio_error(&cb) == EINPROGRESS) pause_ms(1);
  }
  const aiocb* list[1] = {&cb};
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  std::string calls;
  int done = 0;
  for (int k = 1; k <= 50 && !done; ++k) {
    if (k == send) (void)::send(peer, "0123456789", 10, 0);
    const long long t0 = now_ms();
    const int r = aio_suspend(list, 1, timeout_ms < 0 ? nullptr : &ts);
    const int err = r < 0 ? errno : 0;
    const size_t nbytes = cb.aio_nbytes;  // read before aio_error: what a completed aiocb shows
    char item[128];
    std::snprintf(item, sizeof item, "%s[%d,\"%s\",%lld,%zu]", calls.empty() ? "" : ",", r,
                  err ? strerrorname_np(err) : "", now_ms() - t0, nbytes);
    calls += item;
    done = r == 0 && aio_error(&cb) != EINPROGRESS;
    if (!done && timeout_ms == 0) pause_ms(1);  // a polling caller
  }
  if (sender.joinable()) sender.join();
  const int aio_err = aio_error(&cb);
  const ssize_t n = aio_err == EINPROGRESS ? -2 : aio_return(&cb);
  std::printf("{\"calls\":[%s],\"aio_error\":\"%s\",\"aio_return\":%zd,\"data\":\"%s\",\"server_fd\":%d}\n",
              calls.c_str(), aio_err ? strerrorname_np(aio_err) : "", n,
              n > 0 ? std::string(buf, static_cast<size_t>(n)).c_str() : "", server);
  return 0;
}
