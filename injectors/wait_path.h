// The decision path of the readiness calls, shared by both backends like
// data_path.h: the wait rule's decision (wait.eintr, wait.spurious), the
// choice of the fd a spurious report names, and the records of epoll_ctl
// and of an epoll wait.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "shim.h"

namespace iogate {

extern const char* const kNoIdle;  // the note when no registered fd was idle

// The wait rule (if any) that fires on the idx-th wait (per epoll instance,
// or per process for select/poll).
Decision wait_decision(uint64_t idx, bool epoll, long long timeout_ns);

struct Pick {
  const Rule* rule;
  const char* dropped = nullptr;  // robust=off: why a candidate was left out
};
// The fd a spurious report may name: a TCP socket of the role and connection
// the rule asks for (under robust=off: one the kernel could report, V18).
bool eligible(int fd, void* pick);
// After the pick: the robustness mark of the fd reported, or why none was.
void picked(Decision& d, const Pick& pick, int spurious_fd);

// wait.spurious on an epoll wait that returned n events: one more, for a
// registration of epfd that is not ready (V6, V7). Returns the new count;
// *spurious_fd gets the fd named or -1 (d.note then says why).
int epoll_spurious(Decision& d, uint64_t idx, int epfd, epoll_event* events, int n, int maxevents,
                   int* spurious_fd);

const char* fault_text(const Decision& d);  // the rule's text when it changed the call
void record_epoll_wait(const char* name, int epfd, const epoll_event* events, int n, int maxevents,
                       long long timeout_ms, int err, const Decision& d, int paid, int spurious_fd);
void record_epoll_ctl(int epfd, int op, int fd, const epoll_event* ev, int r, int err);

}  // namespace iogate
