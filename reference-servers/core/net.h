// The one small net helper every reference server uses: command-line flags,
// the listening socket, the "listening on PORT" readiness line, and the two
// send loops (non-blocking flush of an OutBuf, blocking send-everything).
//
// Ownership: listen_on() returns a listening fd owned by the caller; the
// send helpers borrow the fd and the buffer and never close either.
// Thread rules: parse_options/listen_on/ignore_sigpipe from main() before any
// worker starts; the send helpers from the thread that owns the connection.
#pragma once

#include <cstddef>
#include <string>

#include "errclass.h"
#include "outbuf.h"
#include "protocol.h"

namespace iogate {

struct ServerOptions {
  std::string host = "127.0.0.1";  // never 0.0.0.0 unless asked for
  int port = 0;                    // 0: the kernel picks, printed on stdout
  Protocol protocol = Protocol::seq;
  int threads = 4;                 // only for models with workers
  std::string demux;               // --demux: only models with a pluggable demultiplexer
                                   // (reactor) read it; empty = the model's default
  std::string cert, key;           // --cert/--key: PEM files, read only by the TLS models (tls_epoll)
};

// Parses --port N, --host H, --protocol seq|echo, --threads N,
// --demux select|poll|epoll, --cert FILE, --key FILE.
// On a bad flag prints usage to stderr and exits with status 2.
ServerOptions parse_options(int argc, char** argv, const char* model);

// socket + SO_REUSEADDR + bind + listen; the listener is non-blocking when
// `nonblocking` is true. Prints "listening on PORT\n" to stdout and flushes.
// Exits with status 1 (and a perror line) when the address cannot be bound.
int listen_on(const ServerOptions& opts, bool nonblocking);

// fcntl(F_SETFL, O_NONBLOCK); returns false (errno set) on failure.
bool set_nonblocking(int fd);

// SIGPIPE would kill the server when it writes to a connection the peer
// reset (send(2) EPIPE); every reference server ignores it at start-up.
void ignore_sigpipe();

// Non-blocking socket: send(MSG_NOSIGNAL) from `out` until it is empty,
// consuming exactly what each send() reports. EINTR is retried.
// Returns progress (the buffer is empty), would_block (EAGAIN: wait for
// writability, the rest stays in `out`) or peer_gone (EPIPE, ECONNRESET...:
// the caller closes the connection).
IoClass flush_nonblocking(int fd, OutBuf& out);

// Blocking socket: send all `n` bytes, looping over short sends (resuming at
// the first unsent byte) and EINTR. Should the fd turn out to be non-blocking,
// EAGAIN waits in poll(POLLOUT) instead of spinning. False on any other error.
bool send_all_blocking(int fd, const char* data, std::size_t n);

}  // namespace iogate
