// iogate-fresh COMMAND [ARG]...: runs COMMAND with every signal at its default
// disposition and none blocked, which is what a service manager gives a
// server, whatever the caller inherited: a shell's background job ignores
// SIGINT and SIGQUIT, nohup ignores SIGHUP, Python ignores SIGPIPE, a runner
// may block signals. An ignored disposition survives exec(2), and the shim
// then rightly injects no EINTR for a signal the server cannot catch; so
// every program the harness starts goes through here (server.py, `iogate run`).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: iogate-fresh COMMAND [ARG]...\n");
    return 2;
  }
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIGKILL, SIGSTOP and reserved ones refuse: fine
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execvp(argv[1], argv + 1);
  std::fprintf(stderr, "iogate: cannot run %s: %s\n", argv[1], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
