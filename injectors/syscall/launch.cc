// iogate-syscall PROGRAM [ARG...]: runs PROGRAM under the syscall backend
// (docs/backends.md). The plan, trace and shared-region variables are the
// preload shim's (IOGATE_FAULTS, IOGATE_TRACE, IOGATE_SHARED).
//
// The program keeps this process's pid, so the harness watches, signals
// and limits the server it started as with the preload backend. The
// supervisor is a grandchild (its parent exits at once, so the server never
// sees an unknown child) that attaches with PTRACE_SEIZE. Then this process
// installs a seccomp filter that stops the traced calls only
// (SECCOMP_RET_TRACE) and execs the program; the filter and the tracing
// follow every thread, fork and exec of the tree. PTRACE_O_EXITKILL: if
// the supervisor dies, the traced processes die with it.
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../shared.h"
#include "../shim.h"
#include "../trace.h"
#include "tracer.h"

#if !defined(__x86_64__)
#error "the syscall backend reads x86_64 registers (regs.cc)"
#endif

namespace {

[[noreturn]] void fail(const std::string& line) {
  std::string out = "iogate: " + line + "\n";
  ssize_t w = write(2, out.data(), out.size());
  (void)w;
  _exit(2);
}

std::vector<sock_filter> filter() {
  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  const unsigned n = iogate::sys::kTracedCallCount;
  for (unsigned i = 0; i < n; ++i)  // a match jumps to the TRACE return after the ALLOW
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(iogate::sys::kTracedCalls[i]),
                         static_cast<uint8_t>(n - i), 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE));
  return f;
}

void install_filter() {
  std::vector<sock_filter> f = filter();
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0) return;
  // Without CAP_SYS_ADMIN a filter needs no_new_privs (seccomp(2)).
  if (errno == EACCES && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
    return;
  fail(std::string("the syscall backend cannot work here: seccomp refused the filter (") + std::strerror(errno) + ")");
}

// The supervisor, in the grandchild: reports its pid, waits for the
// program's permission, seizes it, reports the outcome, then traces.
[[noreturn]] void supervise(pid_t program, int report, int go) {
  const pid_t me = getpid();
  if (write(report, &me, sizeof me) != sizeof me) _exit(2);
  char c;
  if (read(go, &c, 1) != 1) _exit(2);
  const long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                    PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
  int err = ptrace(PTRACE_SEIZE, program, nullptr, reinterpret_cast<void*>(opts)) == 0 ? 0 : errno;
  if (write(report, &err, sizeof err) != sizeof err || err) _exit(2);
  close(report);
  close(go);
  // The harness stops the server with these; the supervisor goes when the
  // last traced process is gone (or dies with SIGKILL, taking them along).
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction alarm_sa{};
  alarm_sa.sa_handler = [](int) {};  // ends a guarded accept with EINTR (calls.cc)
  sigaction(SIGALRM, &alarm_sa, nullptr);
  // Off the server's stdin, stdout and stderr: the harness reads the server's
  // lines until EOF, and the numbers are the program's to mirror.
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 2; ++fd) dup2(null, fd);
  close(null);
  iogate::g_ready.store(true);
  if (iogate::trace_on()) {
    iogate::trace_identity(program, program);
    const char* text = std::getenv("IOGATE_FAULTS");
    iogate::TraceLine("plan").str("plan", text ? text : "").num("seed", static_cast<long long>(iogate::g_plan->seed))
        .str("shared", iogate::shared_where()).str("robust_faults", iogate::g_plan->robust ? "on" : "off")
        .str("backend", "syscall").emit();
  }
  _exit(iogate::sys::run_tracer(program));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) fail("usage: iogate-syscall PROGRAM [ARG...]");
  const std::string bad = iogate::plan_install(std::getenv("IOGATE_FAULTS"));
  if (!bad.empty()) fail("bad plan: " + bad);
  if (*iogate::trace_open()) fail(std::string("cannot open the trace file IOGATE_TRACE: ") + std::strerror(errno));
  iogate::shared_open();
  int report[2], go[2];
  if (pipe2(report, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) fail("cannot create a pipe");
  const pid_t program = getpid();
  const pid_t mid = fork();
  if (mid < 0) fail("cannot fork the supervisor");
  if (mid == 0) {
    const pid_t sup = fork();
    if (sup == 0) supervise(program, report[1], go[0]);
    _exit(sup < 0 ? 1 : 0);
  }
  waitpid(mid, nullptr, 0);
  close(report[1]);
  close(go[0]);
  pid_t sup = 0;
  if (read(report[0], &sup, sizeof sup) != sizeof sup) fail("the syscall backend's supervisor did not start");
  prctl(PR_SET_PTRACER, sup, 0, 0, 0);  // Yama ptrace_scope 1: our non-ancestor may attach (EINVAL without Yama)
  if (write(go[1], "g", 1) != 1) fail("the syscall backend's supervisor went away");
  int err = 0;
  if (read(report[0], &err, sizeof err) != sizeof err) fail("the syscall backend's supervisor went away");
  if (err) fail(std::string("the syscall backend cannot work here: ptrace refused (") + std::strerror(err) + ")");
  close(report[0]);
  close(go[1]);
  install_filter();
  execvp(argv[1], argv + 1);
  fail(std::string("cannot run ") + argv[1] + ": " + std::strerror(errno));
}
