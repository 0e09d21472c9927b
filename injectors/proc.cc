#include "proc.h"

#include "epoll_book.h"
#include "fdtable.h"

namespace iogate {

namespace {
Proc g_own;  // the preload shim's: fds and book null (their modules' own static state)
Proc* g_current = &g_own;
}  // namespace

Proc& proc() { return *g_current; }

Proc* proc_new() {
  auto* p = new Proc();
  p->fds = fd_table_new(nullptr);
  p->book = ep_book_new(nullptr);
  return p;
}

Proc* proc_fork(const Proc& parent) {
  auto* p = new Proc();
  p->fds = fd_table_new(parent.fds);
  p->book = ep_book_new(parent.book);
  for (int i = 0; i < kMaxRules; ++i) p->wait_fired[i].store(parent.wait_fired[i].load());
  p->scan_waits.store(parent.scan_waits.load());
  p->forked.store(true);
  return p;
}

void proc_free(Proc* p) {
  if (!p || p == &g_own) return;
  fd_table_free(p->fds);
  ep_book_free(p->book);
  delete p;
}

void proc_use(Proc* p) { g_current = p ? p : &g_own; }

}  // namespace iogate
