// io_uring at the system-call boundary: the requests of a submission are in
// the program's SQ ring, which the kernel reads during io_uring_enter. At
// that call's entry the supervisor reads the SQEs between the kernel's head
// and the program's tail, lets the shared UringBatch decide and rewrite
// each (async_path.h, as the preload shim does at io_uring_submit), writes
// the changed ones back, and ends the connections the batch faulted at the
// call's exit.
//
// The ring is found from what io_uring_setup returned (the offsets in
// io_uring_params) and the program's mappings of it (/proc/PID/maps: the SQ
// ring at offset 0, the SQEs at IORING_OFF_SQES). A process with several
// rings mapped, or a ring polled by a kernel thread (IORING_SETUP_SQPOLL,
// which needs no io_uring_enter), is left unfaulted: its uring cases are
// then N/A ("not exercised"), never a false verdict.
#include <liburing.h>
#include <sys/syscall.h>

#include <cstdio>
#include <cstring>

#include "../async_path.h"
#include "../trace.h"
#include "mirror.h"
#include "tracer.h"

namespace iogate::sys {

namespace {

constexpr uint32_t kNoSqArray = 1u << 16;  // IORING_SETUP_NO_SQARRAY (Linux 6.6), newer than these headers

struct Mapped {
  uint64_t sq_ring = 0, sqes = 0;
};

// The program's one SQ ring and SQE array, from its mappings.
bool find_ring(pid_t pid, Mapped& m) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/maps", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return false;
  char line[512];
  int rings = 0, arrays = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (!std::strstr(line, "anon_inode:[io_uring]")) continue;
    unsigned long start = 0, end = 0, off = 0;
    if (std::sscanf(line, "%lx-%lx %*s %lx", &start, &end, &off) != 3) continue;
    if (off == IORING_OFF_SQ_RING) {
      m.sq_ring = start;
      ++rings;
    } else if (off == IORING_OFF_SQES) {
      m.sqes = start;
      ++arrays;
    }
  }
  std::fclose(f);
  return rings == 1 && arrays == 1;
}

template <typename T>
bool read_at(pid_t tid, uint64_t addr, T& out) {
  return read_mem(tid, addr, &out, sizeof out);
}

}  // namespace

bool uring_setup_exit(Thread& t, uint64_t params_addr, long ret) {
  if (ret < 0) return true;
  io_uring_params p{};
  if (read_mem(t.tid, params_addr, &p, sizeof p)) t.proc->rings[static_cast<int>(ret)] = p;
  return true;
}

bool uring_enter_entry(Thread& t, const Regs& regs) {
  const int fd = static_cast<int>(regs.arg(0));
  const auto to_submit = static_cast<unsigned>(regs.arg(1));
  auto ring = t.proc->rings.find(fd);
  if (to_submit == 0 || ring == t.proc->rings.end()) return true;
  const io_uring_params& p = ring->second;
  Mapped m;
  if ((p.flags & IORING_SETUP_SQPOLL) || !find_ring(t.proc->pid, m)) return true;
  uint32_t head = 0, tail = 0, mask = 0;
  if (!read_at(t.tid, m.sq_ring + p.sq_off.head, head) || !read_at(t.tid, m.sq_ring + p.sq_off.tail, tail) ||
      !read_at(t.tid, m.sq_ring + p.sq_off.ring_mask, mask))
    return true;
  const std::size_t size = (p.flags & IORING_SETUP_SQE128) ? 128 : 64;
  serve(t);
  UringBatch batch;
  unsigned n = 0;
  for (uint32_t i = head; i != tail && n < to_submit && n < 4096; ++i, ++n) {
    uint32_t index = i & mask;
    if (!(p.flags & kNoSqArray) && !read_at(t.tid, m.sq_ring + p.sq_off.array + 4ULL * index, index)) break;
    const uint64_t at = m.sqes + static_cast<uint64_t>(index) * size;
    io_uring_sqe sqe;
    if (!read_at(t.tid, at, sqe)) break;
    if (!(sqe.flags & IOSQE_FIXED_FILE)) mirror(sqe.fd);
    if (batch.fault(&sqe)) write_mem(t.tid, at, &sqe, sizeof sqe);
  }
  settle_debts();
  if (batch.ending().empty()) return true;
  t.at_exit = [batch](Thread& th, Regs&) mutable {
    serve(th);
    for (const auto& e : batch.ending()) mirror(e.first);
    batch.after_submit();
    settle_debts();
  };
  return true;
}

}  // namespace iogate::sys
