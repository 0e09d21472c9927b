// Book-keeping of epoll registrations and of the readiness the shim owes
// (catalogue rules V3, V7, V11).
//
// After an injected EAGAIN or short transfer while data (or send space) is
// really there, the kernel produces no new edge, so an EPOLLET registration
// would never hear of that fd again and a correct edge-triggered server would
// stall. The shim records (epfd, fd) -> (events, user data) at epoll_ctl and
// owes each such registration one synthetic event carrying the user's own
// epoll_data, delivered by the next epoll_wait on that epfd. EPOLLONESHOT
// registrations owe nothing: the re-arming EPOLL_CTL_MOD re-reads readiness.
//
// Thread rules: every function is safe from any thread (one mutex; the
// "any debt?" test on the epoll_wait path is a lock-free counter).
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <string>

namespace iogate {

void ep_record(int epfd, int op, int fd, const epoll_event* ev);
// fd was closed (or replaced): drop its registrations, its debts, and, if it
// was an epoll instance, everything registered in it.
void ep_forget(int fd);
// The registered interest of (epfd, fd), 0 if none.
uint32_t ep_interest(int epfd, int fd);

// Owe `bit` (EPOLLIN or EPOLLOUT) to every edge-triggered, non-oneshot
// registration of fd whose interest includes it, if `still_ready(fd, bit)`.
void ep_owe(int fd, uint32_t bit, bool (*still_ready)(int fd, uint32_t bit));

bool ep_has_debt(int epfd);
// Merge the debts of epfd into events[0..n) (same user data: OR the bits;
// otherwise append while n < maxevents). Returns the new count; *paid gets
// how many synthetic events were added or merged.
int ep_pay(int epfd, epoll_event* events, int n, int maxevents, int* paid);

// The syscall backend pays debts at once (syscall/rearm.cc): takes up to
// `max` owed registrations of the process, clearing what it takes.
struct EpDebt {
  int epfd;
  int fd;
  uint32_t events;  // the registration's own interest and flags
  uint64_t data;    // its epoll_data
  uint32_t owed;    // EPOLLIN and/or EPOLLOUT
};
int ep_take_debts(EpDebt* out, int max);

// wait.spurious (V6): add to events[0..n) one event for a registration of
// epfd that is not ready and not already reported, chosen by `pick` among the
// candidates that `eligible(fd)` accepts (ONESHOT registrations are never
// chosen, V7). Returns the new count; *fd_out gets the fd or -1.
int ep_spurious(int epfd, epoll_event* events, int n, int maxevents, uint64_t pick, bool (*eligible)(int fd, void*),
                void* ctx, bool (*ready)(int fd, uint32_t bit), int* fd_out);

// The fds registered in epfd (at most max): the syscall backend mirrors them
// before a spurious pick probes them.
int ep_registered(int epfd, int* out, int max);

// The 1-based index of this wait on epfd (the schedule's call index for wait rules).
uint64_t ep_next_wait(int epfd);

// For the trace: the fd whose registration in epfd carries `data`, or -1.
int ep_fd_of(int epfd, uint64_t data);

// The supervisor's books (proc.h): an empty one, or a copy of a parent's.
struct EpollBook;
EpollBook* ep_book_new(const EpollBook* parent);
void ep_book_free(EpollBook* b);

// "EPOLLIN|EPOLLOUT|EPOLLET"
std::string epoll_flag_names(uint32_t events);

}  // namespace iogate
