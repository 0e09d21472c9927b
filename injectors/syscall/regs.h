// A stopped tracee's registers and memory (x86_64): the system call's number
// and arguments at a seccomp stop, its result at the exit stop, and the two
// ways the supervisor changes a call: lower an argument (a real short
// transfer, restored at exit) or skip it with a result of its own.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace iogate::sys {

struct Regs {
  user_regs_struct r{};
  long nr() const { return static_cast<long>(r.orig_rax); }
  uint64_t arg(int i) const;     // 0..5
  void set_arg(int i, uint64_t v);
  long ret() const { return static_cast<long>(r.rax); }
  // At an exit stop: the result as (ret, errno), -1 and the errno for an error.
  std::pair<long, int> result() const {
    const long v = ret();
    return v < 0 && v > -4096 ? std::pair<long, int>{-1, static_cast<int>(-v)} : std::pair<long, int>{v, 0};
  }
};

bool get_regs(pid_t tid, Regs& regs);
bool set_regs(pid_t tid, const Regs& regs);

// Skip the call at its seccomp stop: the tracee sees `value` (-errno for an
// error) without the kernel running it.
bool skip_call(pid_t tid, Regs& regs, long value);

// At an exit stop: the thread re-executes the same system call (the syscall
// instruction is 2 bytes) with argument `arg` set to `value`.
bool reenter_call(pid_t tid, Regs& regs, int arg, uint64_t value);

// Copies between the tracee's memory and ours; false on a short copy.
bool read_mem(pid_t tid, uint64_t addr, void* out, std::size_t n);
bool write_mem(pid_t tid, uint64_t addr, const void* in, std::size_t n);
// One word through ptrace (writes read-only pages too, like a debugger).
bool poke_word(pid_t tid, uint64_t addr, uint64_t value);

// The kernel's "restart me" results, seen at an exit stop when a signal
// interrupted the call (never returned to the program as such).
inline bool restarting(long ret) { return ret <= -512 && ret >= -516; }

}  // namespace iogate::sys
