#include "tls.h"

#include <openssl/err.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "errclass.h"

namespace iogate {

TlsClass classify_tls(int ret, int ssl_error, int err) {
  if (ret > 0) return TlsClass::progress;
  switch (ssl_error) {
    case SSL_ERROR_WANT_READ:
      return err == EINTR ? TlsClass::retry : TlsClass::want_read;
    case SSL_ERROR_WANT_WRITE:
      return err == EINTR ? TlsClass::retry : TlsClass::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return TlsClass::closed;
    case SSL_ERROR_SYSCALL:
      // errno 0: an EOF that broke the protocol (OpenSSL 1.1: the peer vanished mid-record)
      switch (err == 0 ? IoClass::peer_gone : classify_recv(-1, err)) {
        case IoClass::retry: return TlsClass::retry;
        case IoClass::would_block: return TlsClass::want_read;  // a BIO that did not flag the retry
        default: return TlsClass::peer_gone;
      }
    default:  // SSL_ERROR_SSL (a protocol error, a bad write retry), anything else: the session is unusable
      return TlsClass::peer_gone;
  }
}

const char* tls_class_name(TlsClass c) {
  switch (c) {
    case TlsClass::progress: return "progress";
    case TlsClass::want_read: return "want_read";
    case TlsClass::want_write: return "want_write";
    case TlsClass::retry: return "retry";
    case TlsClass::closed: return "closed";
    case TlsClass::peer_gone: return "peer_gone";
  }
  return "?";
}

SSL_CTX* tls_server_context(const char* model, const std::string& cert, const std::string& key) {
  if (cert.empty() || key.empty()) {
    std::fprintf(stderr, "%s: --cert FILE and --key FILE (PEM) are required\n", model);
    std::exit(2);
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    std::fprintf(stderr, "%s: cannot load the TLS certificate %s and key %s:\n", model, cert.c_str(),
                 key.c_str());
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}

}  // namespace iogate
