// The supervisor's loop: every stop of every traced thread, in arrival order.
//   seccomp stop       a filtered call's entry: calls.cc decides and changes it
//   syscall-exit stop  the exit of a call whose entry asked for it (at_exit)
//   fork/vfork/clone   a new process starts with a copy of its parent's state
//                      as of the fork (a new thread shares its process's)
//   exec               a new program: fresh state (its handlers are reset too)
//   group-stop         stays stopped (PTRACE_LISTEN) until SIGCONT
//   signal             delivered unchanged
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "../trace.h"
#include "mirror.h"
#include "tracer.h"

namespace iogate::sys {

namespace {

std::map<pid_t, std::unique_ptr<Traced>> g_procs;
std::map<pid_t, Thread> g_threads;
std::set<pid_t> g_held;  // new processes stopped before their parent's fork event was seen

pid_t status_field(pid_t tid, const char* key) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  FILE* f = std::fopen(path, "re");
  if (!f) return -1;
  char line[256];
  pid_t v = -1;
  const std::size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, klen) == 0) {
      v = static_cast<pid_t>(std::atol(line + klen));
      break;
    }
  std::fclose(f);
  return v;
}

Traced* add_process(pid_t pid, const Traced* parent) {
  auto p = std::make_unique<Traced>();
  p->pid = pid;
  p->pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (p->pidfd >= 0) mirror_own(&p->pidfd);
  p->brain = parent ? proc_fork(*parent->brain) : proc_new();
  if (parent) {
    p->sig = parent->sig;
    p->rings = parent->rings;
    parent->brain->forked.store(true);
  }
  Traced* raw = p.get();
  g_procs[pid] = std::move(p);
  return raw;
}

void drop_process(pid_t pid) {
  auto it = g_procs.find(pid);
  if (it == g_procs.end()) return;
  for (const auto& th : g_threads)
    if (th.second.proc == it->second.get()) return;  // a thread still runs
  if (it->second->pidfd >= 0) close(it->second->pidfd);
  proc_free(it->second->brain);
  g_procs.erase(it);
}

void resume(pid_t tid, int how, int sig = 0) {
  ptrace(static_cast<__ptrace_request>(how), tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
}

// A thread the loop has not met: a thread of a known process, or a new
// process (its state is made at the parent's fork event).
Thread* find(pid_t tid) {
  auto it = g_threads.find(tid);
  if (it != g_threads.end()) return &it->second;
  const pid_t tgid = status_field(tid, "Tgid:");
  auto p = g_procs.find(tgid);
  if (p == g_procs.end()) return nullptr;
  Thread& t = g_threads[tid];
  t.tid = tid;
  t.proc = p->second.get();
  return &t;
}

void on_new(Thread& parent, int event) {
  unsigned long msg = 0;
  ptrace(PTRACE_GETEVENTMSG, parent.tid, nullptr, &msg);
  const auto child = static_cast<pid_t>(msg);
  if (event == PTRACE_EVENT_CLONE && status_field(child, "Tgid:") == parent.proc->pid) {
    Thread& t = g_threads[child];
    t.tid = child;
    t.proc = parent.proc;
  } else {
    Thread& t = g_threads[child];
    t.tid = child;
    t.proc = add_process(child, parent.proc);
  }
  if (g_held.erase(child)) resume(child, PTRACE_CONT);
}

void on_exec(Thread& t) {
  unsigned long former = 0;
  ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &former);
  if (static_cast<pid_t>(former) != t.tid) g_threads.erase(static_cast<pid_t>(former));
  proc_free(t.proc->brain);
  t.proc->brain = proc_new();
  t.proc->sig = SigBook{};
  t.proc->rings.clear();
}

void on_stop(pid_t tid, int status) {
  const int sig = WSTOPSIG(status);
  const int event = status >> 16;
  Thread* t = find(tid);
  if (!t) {  // a new process whose parent's fork event is still to come
    if (event == PTRACE_EVENT_STOP) g_held.insert(tid);
    else resume(tid, PTRACE_CONT, event ? 0 : sig);
    return;
  }
  if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
    Regs regs;
    bool ok = get_regs(tid, regs) && on_entry(*t, regs);
    mirror_drop();
    if (!ok) return;
    resume(tid, t->at_exit ? PTRACE_SYSCALL : PTRACE_CONT);
    return;
  }
  if (sig == (SIGTRAP | 0x80)) {  // the exit of a call whose entry set at_exit
    Regs regs;
    if (t->at_exit && get_regs(tid, regs)) t->at_exit(*t, regs);
    t->at_exit = nullptr;
    mirror_drop();
    resume(tid, PTRACE_CONT);
    return;
  }
  switch (event) {
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE:
      on_new(*t, event);
      resume(tid, PTRACE_CONT);
      return;
    case PTRACE_EVENT_EXEC:
      on_exec(*t);
      resume(tid, PTRACE_CONT);
      return;
    case PTRACE_EVENT_STOP:
      if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
        resume(tid, PTRACE_LISTEN);  // a group-stop: stays stopped until SIGCONT
      else
        resume(tid, PTRACE_CONT);
      return;
    case 0:
      resume(tid, PTRACE_CONT, sig);  // signal-delivery-stop: deliver it
      return;
    default:
      resume(tid, PTRACE_CONT);
      return;
  }
}

}  // namespace

void serve(Thread& t) {
  proc_use(t.proc->brain);
  sigbook_use(&t.proc->sig, t.tid);
  mirror_process(t.proc->pidfd);
  trace_identity(t.proc->pid, t.tid);
}

int run_tracer(pid_t first) {
  add_process(first, nullptr);
  Thread& t0 = g_threads[first];
  t0.tid = first;
  t0.proc = g_procs[first].get();
  for (;;) {
    int status = 0;
    const pid_t tid = waitpid(-1, &status, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      return 0;  // ECHILD: every traced process is gone
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      auto it = g_threads.find(tid);
      if (it != g_threads.end()) {
        const pid_t pid = it->second.proc->pid;
        g_threads.erase(it);
        drop_process(pid);
      }
      continue;
    }
    if (WIFSTOPPED(status)) on_stop(tid, status);
  }
}

}  // namespace iogate::sys
