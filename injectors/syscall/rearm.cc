// The readiness contract at the system-call level (catalogue V3): after an
// injected EAGAIN or short transfer while data or room is really there, an
// edge-triggered registration hears of it again. The preload shim merges a
// synthetic event into the next epoll_wait; a supervisor cannot (the thread
// that will be told may already sleep in epoll_pwait, as Go's netpoller
// does). It re-arms the same registration instead: EPOLL_CTL_MOD with the
// owner's own events and epoll_data on the same (file, fd) pair, from its
// mirror of both descriptors, and the kernel itself reports the readiness
// that is really there, waking a waiter that already sleeps.
#include <sys/epoll.h>

#include "../epoll_book.h"
#include "mirror.h"
#include "tracer.h"

namespace iogate::sys {

void settle_debts() {
  EpDebt debts[64];
  const int n = ep_take_debts(debts, 64);
  for (int i = 0; i < n; ++i) {
    const EpDebt& d = debts[i];
    if (!mirror(d.epfd) || !mirror(d.fd)) continue;
    epoll_event ev{};
    ev.events = d.events;
    ev.data.u64 = d.data;
    epoll_ctl(d.epfd, EPOLL_CTL_MOD, d.fd, &ev);  // EPOLLEXCLUSIVE cannot be modified: nothing to do then
  }
}

}  // namespace iogate::sys
