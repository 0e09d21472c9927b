#include "sigbook.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../signals.h"

namespace iogate {

namespace sys {
namespace {
SigBook* g_book = nullptr;
pid_t g_tid = 0;

// The signals thread `tid` blocks (SigBlk of /proc/TID/status); 0 if unknown.
uint64_t blocked_by(pid_t tid) {
  if (tid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  std::FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char line[256];
  uint64_t mask = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "SigBlk:", 7) == 0) {
      mask = std::strtoull(line + 7, nullptr, 16);
      break;
    }
  }
  std::fclose(f);
  return mask;
}
}  // namespace

void sigbook_use(SigBook* book, pid_t tid) {
  g_book = book;
  g_tid = tid;
}

void sigbook_set(SigBook& book, int sig, uint64_t handler, uint64_t flags) {
  if (sig < 1 || sig > 64) return;
  const uint64_t bit = 1ULL << (sig - 1);
  const bool caught = handler != reinterpret_cast<uint64_t>(SIG_DFL) && handler != reinterpret_cast<uint64_t>(SIG_IGN);
  book.caught = caught ? book.caught | bit : book.caught & ~bit;
  book.restart = caught && (flags & SA_RESTART) ? book.restart | bit : book.restart & ~bit;
}
}  // namespace sys

bool caught_signal_could_interrupt(bool restart_ok) {
  if (!sys::g_book) return false;
  const uint64_t stoppers = (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1));
  const uint64_t caught = sys::g_book->caught & ~stoppers & ~sys::blocked_by(sys::g_tid);
  return restart_ok ? caught != 0 : (caught & ~sys::g_book->restart) != 0;
}

// Queuing a signal with a POLL_* code into another process is not allowed
// (rt_sigqueueinfo(2)): the syscall backend owes no SIGIO (docs/backends.md).
bool owe_sigio(int, uint32_t, bool (*)(int, uint32_t)) { return false; }

}  // namespace iogate
