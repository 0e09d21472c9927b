// The supervisor's view of the traced tree: one Traced per process (its
// pidfd, the shared injector state of proc.h, its signal book), one Thread
// per thread, and what a thread stopped at a call's entry still owes at its
// exit (at_exit).
#pragma once

#include <sys/types.h>

#include <functional>

#include "../proc.h"
#include "regs.h"
#include "sigbook.h"

namespace iogate::sys {

struct Traced {
  pid_t pid = 0;
  int pidfd = -1;
  Proc* brain = nullptr;
  SigBook sig;
};

struct Thread {
  pid_t tid = 0;
  Traced* proc = nullptr;
  std::function<void(Thread&, Regs&)> at_exit;  // set: resume to the exit stop and run it there
  // A call the supervisor made the thread enter again (a wait that goes on
  // after a zero-timeout try): its next entry is that call, already decided.
  std::function<void(Thread&, Regs&)> resumed;
};


// Makes the shared code serve this thread's process: its state, its
// descriptors (mirror.h), its ids in the records.
void serve(Thread& t);

// Pays the readiness the shared code owes, at once (rearm.cc).
void settle_debts();

// The seccomp stop at a call's entry: decides, changes the call if a fault
// says so, and sets t.at_exit when the exit must be seen. Returns false when
// the tracee vanished.
bool on_entry(Thread& t, Regs& regs);

// Traces `first` (seized already) and everything it starts, until none is
// left. Returns the supervisor's exit status.
int run_tracer(pid_t first);

// The system calls the filter sends to the supervisor.
extern const long kTracedCalls[];
extern const unsigned kTracedCallCount;

}  // namespace iogate::sys
