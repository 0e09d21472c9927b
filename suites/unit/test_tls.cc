// The TLS result classes (reference-servers/tls/tls.h) checked against
// SSL_get_error(3): WANT_READ/WANT_WRITE "call again later", EINTR behind
// them retried at once, ZERO_RETURN the peer's close_notify, SYSCALL by its
// errno, SSL fatal.
#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include <cerrno>
#include <string>

#include "tls.h"

using iogate::TlsClass;

namespace {

struct TlsRow {
  int ret;
  int ssl_error;
  int err;
  TlsClass expected;
  const char* why;
};

}  // namespace

TEST_CASE("SSL results are classified as SSL_get_error(3) defines them", "[errno][tls]") {
  const TlsRow row = GENERATE(values<TlsRow>({
      {4096, SSL_ERROR_NONE, 0, TlsClass::progress, "bytes moved"},
      {1, SSL_ERROR_NONE, EAGAIN, TlsClass::progress, "SSL_accept == 1: done; a stale errno is ignored"},
      {-1, SSL_ERROR_WANT_READ, EAGAIN, TlsClass::want_read, "the socket said EAGAIN: wait for readability"},
      {-1, SSL_ERROR_WANT_READ, 0, TlsClass::want_read, "no whole record yet, no syscall failed"},
      {-1, SSL_ERROR_WANT_WRITE, EAGAIN, TlsClass::want_write, "the socket is full: wait for writability"},
      {-1, SSL_ERROR_WANT_READ, EINTR, TlsClass::retry, "the BIO turns EINTR into a retry flag: no edge is owed"},
      {-1, SSL_ERROR_WANT_WRITE, EINTR, TlsClass::retry, "the same for a write"},
      {0, SSL_ERROR_ZERO_RETURN, 0, TlsClass::closed, "close_notify (or a FIN with IGNORE_UNEXPECTED_EOF)"},
      {-1, SSL_ERROR_SYSCALL, ECONNRESET, TlsClass::peer_gone, "the peer reset"},
      {-1, SSL_ERROR_SYSCALL, EPIPE, TlsClass::peer_gone, "the peer is gone"},
      {-1, SSL_ERROR_SYSCALL, EINTR, TlsClass::retry, "a signal before any byte"},
      {0, SSL_ERROR_SYSCALL, 0, TlsClass::peer_gone, "an EOF that broke the protocol"},
      {-1, SSL_ERROR_SSL, 0, TlsClass::peer_gone, "a protocol error, a bad write retry"},
      {-1, SSL_ERROR_WANT_X509_LOOKUP, 0, TlsClass::peer_gone, "a state this server never asks for"},
  }));
  CAPTURE(row.why, row.ret, row.ssl_error, row.err);
  CHECK(iogate::tls_class_name(iogate::classify_tls(row.ret, row.ssl_error, row.err)) ==
        std::string(iogate::tls_class_name(row.expected)));
}
