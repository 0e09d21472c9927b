// The signal dispositions of each traced process, kept from its
// rt_sigaction calls (the supervisor cannot ask sigaction(2) of another
// process): what legality's V5 needs (signals.h). Empty after exec (every
// handler is reset there), copied at fork.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>

namespace iogate::sys {

struct SigBook {
  uint64_t caught = 0;   // bit s-1: signal s has a handler
  uint64_t restart = 0;  // bit s-1: that handler has SA_RESTART
};

// The book signals.h's functions read (the process being served) and the
// thread being served, whose blocked signals (its /proc status) cannot
// interrupt it.
void sigbook_use(SigBook* book, pid_t tid);

// rt_sigaction(sig, act) succeeded with act's handler and flags.
void sigbook_set(SigBook& book, int sig, uint64_t handler, uint64_t flags);

}  // namespace iogate::sys
