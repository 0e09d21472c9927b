// iogate-fresh [--cgroup DIR]... COMMAND [ARG]...: runs COMMAND with every
// signal at its default disposition and none blocked, which is what a service
// manager gives a server, whatever the caller inherited: a shell's background
// job ignores SIGINT and SIGQUIT, nohup ignores SIGHUP, Python ignores
// SIGPIPE, a runner may block signals. An ignored disposition survives
// exec(2), and the shim then rightly injects no EINTR for a signal the server
// cannot catch; so every program the harness starts goes through here
// (server.py, `iogate run`).
//
// --cgroup DIR: join the control group DIR (write our pid to its
// cgroup.procs) before exec, so that the server and every process it ever
// starts, whatever its session or process group, belong to the group the
// harness made for this server instance (contain.py). Joining before exec
// leaves no window in which a child could be started outside it.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

bool join_cgroup(const char* dir) {
  const std::string path = std::string(dir) + "/cgroup.procs";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  const bool wrote = std::fprintf(f, "%ld\n", static_cast<long>(getpid())) > 0;
  return std::fclose(f) == 0 && wrote;
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  while (first + 1 < argc && std::strcmp(argv[first], "--cgroup") == 0) {
    if (!join_cgroup(argv[first + 1])) {
      std::fprintf(stderr, "iogate: cannot join the control group %s: %s\n", argv[first + 1], std::strerror(errno));
      return 125;
    }
    first += 2;
  }
  if (first >= argc) {
    std::fprintf(stderr, "usage: iogate-fresh [--cgroup DIR]... COMMAND [ARG]...\n");
    return 2;
  }
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIGKILL, SIGSTOP and reserved ones refuse: fine
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execvp(argv[first], argv + first);
  std::fprintf(stderr, "iogate: cannot run %s: %s\n", argv[first], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
