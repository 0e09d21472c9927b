// The supervisor's view of the traced tree: one Traced per process (its
// pidfd, the shared injector state of proc.h, its signal book), one Thread
// per thread, and what a thread stopped at a call's entry still owes at its
// exit (at_exit).
#pragma once

#include <sys/types.h>

#include <linux/io_uring.h>

#include <functional>
#include <map>

#include "../proc.h"
#include "regs.h"
#include "sigbook.h"

namespace iogate::sys {

struct Traced {
  pid_t pid = 0;
  int pidfd = -1;
  Proc* brain = nullptr;
  SigBook sig;
  std::map<int, io_uring_params> rings;  // its io_uring instances by fd, as io_uring_setup returned them (uring.cc)
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

// The readiness calls (waits.cc): epoll_ctl, the epoll waits, select and
// poll (name: the call's name in the trace).
bool epoll_ctl_entry(Thread& t, const Regs& regs);
bool epoll_wait_entry(Thread& t, Regs& regs, const char* name);
bool scan_entry(Thread& t, Regs& regs, const char* name);

// io_uring (uring.cc): the ring io_uring_setup made, and the SQEs of a
// submission decided at io_uring_enter.
bool uring_setup_exit(Thread& t, uint64_t params_addr, long ret);
bool uring_enter_entry(Thread& t, const Regs& regs);

// The system calls the filter sends to the supervisor.
extern const long kTracedCalls[];
extern const unsigned kTracedCallCount;

}  // namespace iogate::sys
