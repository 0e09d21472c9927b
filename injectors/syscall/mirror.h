// The supervisor runs the shared injector code (shim.h, data_path.h, ...)
// unchanged: that code probes descriptors by number (poll, fcntl, getsockopt,
// fstat, connect(AF_UNSPEC), shutdown, accept, epoll_ctl). Before each use
// the supervisor puts a copy of the traced process's descriptor (pidfd_getfd)
// at the same number in its own table, and drops every copy when the stop is
// handled: a copy holds a reference to the file, and a socket the program
// closed must really close (the peer sees its FIN).
#pragma once

#include <sys/types.h>

namespace iogate::sys {

// The process whose descriptors are mirrored from now on (its pidfd).
void mirror_process(int pidfd);

// Mirrors fd; false when the process has no such descriptor (the number is
// then closed here too, so probes fail with EBADF as they would there).
bool mirror(int fd);

// Closes every copy made since the last call.
void mirror_drop();

// A descriptor of the supervisor's own (a pidfd, its stderr): moved to a
// high number now, and again whenever a mirrored number needs its place
// (*own follows it).
void mirror_own(int* own);

}  // namespace iogate::sys
