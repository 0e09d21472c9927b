#include "regs.h"

#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>

namespace iogate::sys {

uint64_t Regs::arg(int i) const {
  switch (i) {
    case 0: return r.rdi;
    case 1: return r.rsi;
    case 2: return r.rdx;
    case 3: return r.r10;
    case 4: return r.r8;
    default: return r.r9;
  }
}

void Regs::set_arg(int i, uint64_t v) {
  switch (i) {
    case 0: r.rdi = v; break;
    case 1: r.rsi = v; break;
    case 2: r.rdx = v; break;
    case 3: r.r10 = v; break;
    case 4: r.r8 = v; break;
    default: r.r9 = v; break;
  }
}

bool get_regs(pid_t tid, Regs& regs) { return ptrace(PTRACE_GETREGS, tid, nullptr, &regs.r) == 0; }
bool set_regs(pid_t tid, const Regs& regs) { return ptrace(PTRACE_SETREGS, tid, nullptr, &regs.r) == 0; }

bool skip_call(pid_t tid, Regs& regs, long value) {
  regs.r.orig_rax = static_cast<unsigned long long>(-1);  // seccomp(2): -1 skips the call
  regs.r.rax = static_cast<unsigned long long>(value);
  return set_regs(tid, regs);
}

bool reenter_call(pid_t tid, Regs& regs, int arg, uint64_t value) {
  regs.r.rip -= 2;
  regs.r.rax = regs.r.orig_rax;
  regs.set_arg(arg, value);
  return set_regs(tid, regs);
}

bool read_mem(pid_t tid, uint64_t addr, void* out, std::size_t n) {
  iovec local{out, n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  return process_vm_readv(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

bool write_mem(pid_t tid, uint64_t addr, const void* in, std::size_t n) {
  iovec local{const_cast<void*>(in), n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  return process_vm_writev(tid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

bool poke_word(pid_t tid, uint64_t addr, uint64_t value) {
  errno = 0;
  return ptrace(PTRACE_POKEDATA, tid, reinterpret_cast<void*>(addr), reinterpret_cast<void*>(value)) == 0;
}

}  // namespace iogate::sys
