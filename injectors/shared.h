// What every process of the server under test shares, so that `conn=K` means
// the K-th connection accepted by ANY of its processes (prefork children,
// nginx or apache workers, an inetd child that exec'd a program reading its
// socket on fd 0): one accept counter and a bounded table from the socket's
// identity (st_dev, st_ino of the accepted socket) to its ordinal.
//
// The region is the file named by IOGATE_SHARED (created if missing, mapped
// MAP_SHARED by every process at shim load: the harness gives each server
// instance its own file), or, without the variable, an anonymous MAP_SHARED
// region of the first process that its forked children inherit (a program
// exec'd from there starts a region of its own). An all-zero region is the
// valid empty state, so concurrent creators need no handshake.
//
// Thread and process rules: every function is lock-free and safe from any
// thread of any process mapping the region.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "plan.h"

namespace iogate {

// Maps the region (at shim load). Never fails: when the file cannot be
// opened or mapped, a private region is used and shared_where() says why.
void shared_open();
// "the path", or "private" (no IOGATE_SHARED), or "private: <why>".
const char* shared_where();

// The next connection ordinal (1, 2, ...) of the whole server, registered
// under the identity of the accepted socket fd (if fstat can name it).
uint32_t shared_next_conn(int fd);

// The ordinal a socket was registered with by any process, 0 if none (a
// socket nobody accepted, or one pushed out of the bounded table).
uint32_t shared_conn_of(dev_t dev, ino_t ino);

// Accept rules count for the whole server too: the index of this accept call
// among every process's accept calls, and the per-rule fire counters, so
// `accept.econnaborted:count=1` aborts one connection of the server, not one
// per prefork child (apache2 mpm_event, nginx workers).
uint64_t shared_next_accept_call();
std::atomic<uint32_t>* shared_accept_fired();  // kMaxRules counters

}  // namespace iogate
