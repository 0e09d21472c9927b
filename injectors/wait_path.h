// The decision path of the readiness calls, shared by both backends like
// data_path.h: the wait rule's decision (wait.eintr, wait.spurious), the
// choice of the fd a spurious report names, and the records of epoll_ctl
// and of the waits (epoll, select, poll).
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <cstdint>

#include "shim.h"

namespace iogate {

extern const char* const kNoIdle;  // the note when no registered fd was idle

// The note of a wait that had nothing to report after a zero-timeout real
// call and went on with the rest of the caller's timeout.
const char* waited_on(const char* note);

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

// select/poll count their waits per process (they have no instance to count
// on): *idx gets this wait's index.
Decision scan_decision(uint64_t* idx, long long timeout_ns);
// wait.spurious on a select/poll that returned n: one fd asked for reading,
// not ready, reported readable. asked: the caller's read set before the call.
int select_spurious(Decision& d, uint64_t idx, int nfds, const fd_set* asked, fd_set* rd, int n, int* spurious_fd);
int poll_spurious(Decision& d, uint64_t idx, pollfd* fds, nfds_t nfds, int n, int* spurious_fd);

const char* fault_text(const Decision& d);  // the rule's text when it changed the call
void record_epoll_wait(const char* name, int epfd, const epoll_event* events, int n, int maxevents,
                       long long timeout_ms, int err, const Decision& d, int paid, int spurious_fd);
void record_select(const char* name, int nfds, long long timeout_ms, int n, int err, const Decision& d,
                   int spurious_fd, const fd_set* rd, const fd_set* wr, const fd_set* ex);
void record_poll(const char* name, const pollfd* fds, nfds_t nfds, long long timeout_ms, int n, int err,
                 const Decision& d, int spurious_fd);
void record_epoll_ctl(int epfd, int op, int fd, const epoll_event* ev, int r, int err);

}  // namespace iogate
