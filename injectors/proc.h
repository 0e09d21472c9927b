// The state the injector keeps per process of the server: its descriptor
// table (fdtable.h), its epoll book (epoll_book.h), its wait-rule counters
// and whether it forked. The preload shim lives inside one process and uses
// one instance for its whole life (a forked child inherits a copy with its
// memory). The syscall backend (syscall/) serves every process of the
// traced tree from one supervisor: it keeps one instance per process,
// copies it at fork, and selects the one of the process whose call it is
// handling before it asks the shared code anything (proc_use).
//
// Thread rules: the preload shim never switches instances; the supervisor
// is single-threaded.
#pragma once

#include <atomic>
#include <cstdint>

#include "plan.h"

namespace iogate {

struct FdState;
struct EpollBook;

struct Proc {
  FdState* fds = nullptr;     // kMaxFd slots (fdtable.cc)
  EpollBook* book = nullptr;  // epoll registrations and debts (epoll_book.cc)
  std::atomic<uint32_t> wait_fired[kMaxRules] = {};  // wait rules fire per process
  std::atomic<uint64_t> scan_waits{0};               // select/poll/aio_suspend calls so far
  std::atomic<bool> forked{false};  // forked or was forked: a listener may be shared (V6)
};

// The process being served (the preload shim's own, unless switched).
Proc& proc();

// The supervisor's instances: a fresh one (a new program after exec), a
// copy at fork (the child starts with its parent's descriptors and
// registrations), and the one to serve now.
Proc* proc_new();
Proc* proc_fork(const Proc& parent);
void proc_free(Proc* p);
void proc_use(Proc* p);

}  // namespace iogate
