// errno handling as data: the classification table checked against the man
// pages (recv(2), send(2), accept(2), select(2)/epoll_wait(2) with signal(7)),
// and OutBuf, the pending-output buffer a short send() resumes from.
#include <catch2/catch.hpp>

#include <cerrno>
#include <random>
#include <string>

#include "errclass.h"
#include "outbuf.h"

using iogate::AcceptClass;
using iogate::IoClass;
using iogate::WaitClass;

namespace {

struct IoRow {
  long n;
  int err;
  IoClass expected;
  const char* why;
};

struct AcceptRow {
  int fd;
  int err;
  AcceptClass expected;
  const char* why;
};

}  // namespace

TEST_CASE("recv results are classified as recv(2) defines them", "[errno]") {
  const IoRow row = GENERATE(values<IoRow>({
      {1, 0, IoClass::progress, "data"},
      {4096, EAGAIN, IoClass::progress, "a stale errno is ignored when n > 0"},
      {0, 0, IoClass::closed, "0 is the orderly shutdown"},
      {0, EAGAIN, IoClass::closed, "0 is never 'would block'"},
      {-1, EAGAIN, IoClass::would_block, "nothing now on a non-blocking socket"},
      {-1, EWOULDBLOCK, IoClass::would_block, "POSIX allows either spelling"},
      {-1, EINTR, IoClass::retry, "a signal came before any data"},
      {-1, ECONNRESET, IoClass::peer_gone, "reset by peer"},
      {-1, ETIMEDOUT, IoClass::peer_gone, "tcp(7): retransmission gave up"},
      {-1, EPIPE, IoClass::peer_gone, "shut down"},
      {-1, ENOTCONN, IoClass::peer_gone, "not connected"},
      {-1, EHOSTUNREACH, IoClass::peer_gone, "pending network error"},
  }));
  CAPTURE(row.n, row.err, row.why);
  CHECK(iogate::classify_recv(row.n, row.err) == row.expected);
}

TEST_CASE("an EINTR from recv is retried, not reported as an error", "[errno]") {
  CHECK(iogate::classify_recv(-1, EINTR) == IoClass::retry);
  CHECK(iogate::classify_recv(-1, EINTR) != IoClass::peer_gone);
}

TEST_CASE("send results are classified as send(2) defines them", "[errno]") {
  const IoRow row = GENERATE(values<IoRow>({
      {7, 0, IoClass::progress, "a short send is progress"},
      {-1, EAGAIN, IoClass::would_block, "send buffer full"},
      {-1, EWOULDBLOCK, IoClass::would_block, "send buffer full"},
      {-1, EINTR, IoClass::retry, "a signal came before any data was sent"},
      {-1, EPIPE, IoClass::peer_gone, "the peer shut down reading"},
      {-1, ECONNRESET, IoClass::peer_gone, "reset by peer"},
      {0, 0, IoClass::retry, "nothing moved, not an error"},
  }));
  CAPTURE(row.n, row.err, row.why);
  CHECK(iogate::classify_send(row.n, row.err) == row.expected);
}

TEST_CASE("send never reports a closed connection, only a gone peer", "[errno]") {
  for (int err : {0, EAGAIN, EINTR, EPIPE, ECONNRESET, ETIMEDOUT}) {
    CAPTURE(err);
    CHECK(iogate::classify_send(-1, err) != IoClass::closed);
  }
}

TEST_CASE("accept results are classified as accept(2) defines them", "[errno]") {
  const AcceptRow row = GENERATE(values<AcceptRow>({
      {5, 0, AcceptClass::accepted, "a new connection"},
      {0, EBADF, AcceptClass::accepted, "fd 0 is a valid descriptor"},
      {-1, EAGAIN, AcceptClass::would_block, "queue empty"},
      {-1, EWOULDBLOCK, AcceptClass::would_block, "queue empty"},
      {-1, EINTR, AcceptClass::retry, "a signal came first"},
      {-1, ECONNABORTED, AcceptClass::retry, "aborted while queued: take the next"},
      {-1, EPROTO, AcceptClass::retry, "protocol error: treat like EAGAIN"},
      {-1, ENETDOWN, AcceptClass::retry, "pending network error: treat like EAGAIN"},
      {-1, EHOSTUNREACH, AcceptClass::retry, "pending network error: treat like EAGAIN"},
      {-1, EPERM, AcceptClass::retry, "firewall rules forbid this connection only"},
      {-1, EMFILE, AcceptClass::out_of_fds, "per-process fd limit"},
      {-1, ENFILE, AcceptClass::out_of_fds, "system-wide fd limit"},
      {-1, ENOBUFS, AcceptClass::out_of_fds, "out of socket buffers"},
      {-1, ENOMEM, AcceptClass::out_of_fds, "out of memory"},
      {-1, EBADF, AcceptClass::fatal, "the listener is not an open fd"},
      {-1, EINVAL, AcceptClass::fatal, "the socket is not listening"},
      {-1, ENOTSOCK, AcceptClass::fatal, "the listener is not a socket"},
  }));
  CAPTURE(row.fd, row.err, row.why);
  CHECK(iogate::classify_accept(row.fd, row.err) == row.expected);
}

TEST_CASE("a wait interrupted by a signal is retried and other wait errors are fatal",
          "[errno]") {
  CHECK(iogate::classify_wait(3, 0) == WaitClass::ready);
  CHECK(iogate::classify_wait(0, EINTR) == WaitClass::ready);  // a timeout, errno stale
  CHECK(iogate::classify_wait(-1, EINTR) == WaitClass::retry);
  CHECK(iogate::classify_wait(-1, EBADF) == WaitClass::fatal);
  CHECK(iogate::classify_wait(-1, EINVAL) == WaitClass::fatal);
  CHECK(iogate::classify_wait(-1, ENOMEM) == WaitClass::fatal);
}

TEST_CASE("every class has a printable name", "[errno]") {
  CHECK(std::string(iogate::io_class_name(IoClass::would_block)) == "would_block");
  CHECK(std::string(iogate::io_class_name(IoClass::peer_gone)) == "peer_gone");
  CHECK(std::string(iogate::accept_class_name(AcceptClass::out_of_fds)) == "out_of_fds");
  CHECK(std::string(iogate::accept_class_name(AcceptClass::fatal)) == "fatal");
}

TEST_CASE("an OutBuf hands out its unsent bytes from the first unsent one", "[core]") {
  iogate::OutBuf out;
  REQUIRE(out.empty());
  REQUIRE(out.size() == 0);

  out.append("hello ", 6);
  out.append(std::string_view("world"));
  REQUIRE(out.size() == 11);
  CHECK(std::string(out.data(), out.size()) == "hello world");

  SECTION("a short send consumes only what the kernel took") {
    out.consume(7);  // send() returned 7
    CHECK(out.size() == 4);
    CHECK(std::string(out.data(), out.size()) == "orld");
    CHECK_FALSE(out.empty());
  }
  SECTION("appending after a partial consume keeps the order") {
    out.consume(3);
    out.append("!", 1);
    CHECK(std::string(out.data(), out.size()) == "lo world!");
  }
  SECTION("consuming everything empties it, and it is reusable") {
    out.consume(11);
    CHECK(out.empty());
    CHECK(out.size() == 0);
    out.append("again", 5);
    CHECK(std::string(out.data(), out.size()) == "again");
  }
  SECTION("consuming zero bytes changes nothing") {
    out.consume(0);
    CHECK(std::string(out.data(), out.size()) == "hello world");
  }
}

TEST_CASE("an OutBuf drained by random short sends yields the stream exactly once",
          "[core]") {
  const unsigned seed = GENERATE(range(1u, 11u));
  CAPTURE(seed);
  std::mt19937 rng(seed);
  iogate::OutBuf out;
  std::string written, sent;
  while (written.size() < 600 * 1024 || !out.empty()) {
    if (written.size() < 600 * 1024 && rng() % 3 == 0) {
      std::string chunk(rng() % 9000, '\0');
      for (char& b : chunk) b = static_cast<char>(rng());
      out.append(chunk);
      written += chunk;
    }
    if (!out.empty()) {
      std::size_t n = 1 + rng() % (rng() % 2 ? 7 : out.size());  // like send.partial:max=7
      if (n > out.size()) n = out.size();
      sent.append(out.data(), n);
      out.consume(n);
    }
  }
  CHECK(sent.size() == written.size());
  CHECK(sent == written);
}
