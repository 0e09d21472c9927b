// The TLS side of tls_epoll, kept out of the model's file: the server
// context (certificate, key, the modes a non-blocking server needs) and the
// classification of SSL_accept/SSL_read/SSL_write results, errno handling as
// data like core/errclass, for the states OpenSSL adds to a socket's.
//
//   SSL_get_error(3): SSL_ERROR_WANT_READ / SSL_ERROR_WANT_WRITE "the operation
//   did not complete ... the same TLS/SSL I/O function should be called again
//   later"; SSL_ERROR_ZERO_RETURN the peer sent close_notify; SSL_ERROR_SYSCALL
//   "some non-recoverable, fatal I/O error occurred" (errno says which);
//   SSL_ERROR_SSL a protocol error. SSL_write(3): a retry after WANT_* "must be
//   repeated with the same arguments".
//
// Ownership: tls_server_context() returns an SSL_CTX the caller owns (one per
// process, freed at exit); classify_tls() is a pure function.
// Thread rules: none; the servers call these from their one loop thread.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace iogate {

enum class TlsClass {
  progress,    // > 0: bytes moved, or (SSL_accept == 1) the handshake is done
  want_read,   // SSL_ERROR_WANT_READ: wait for readability, then call the SAME function again
  want_write,  // SSL_ERROR_WANT_WRITE: wait for writability, then call the SAME function again
  retry,       // a signal interrupted the socket call (EINTR): call it again at once
  closed,      // SSL_ERROR_ZERO_RETURN: close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a TCP FIN
  peer_gone,   // SSL_ERROR_SYSCALL (ECONNRESET, EPIPE, ...), SSL_ERROR_SSL: end this connection only
};

// `ret` the function's return value, `ssl_error` SSL_get_error(ssl, ret),
// `err` the errno read right after the call (set errno = 0 before it). OpenSSL's
// socket BIO turns EINTR into WANT_READ/WANT_WRITE (BIO_sock_should_retry):
// with errno == EINTR those are `retry`, since a would-block that never was
// leaves no edge to wait for.
TlsClass classify_tls(int ret, int ssl_error, int err);
const char* tls_class_name(TlsClass c);

// TLS_server_method() with the certificate chain and key of the PEM files,
// TLS 1.2 at least; SSL_OP_IGNORE_UNEXPECTED_EOF makes a FIN without
// close_notify the end of input (ZERO_RETURN), like recv() == 0 (the seq
// protocol has no truncation to detect). The write modes are the server's
// own choice (its output queue). Exits 2 without --cert/--key, 1 when the
// files do not load (with OpenSSL's reason).
SSL_CTX* tls_server_context(const char* model, const std::string& cert, const std::string& key);

}  // namespace iogate
