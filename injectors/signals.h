// Signals as legality needs them (V5) and as signal-driven IO owners are
// owed them (V3, V14). Every function may be called from any thread.
#pragma once

#include <cstdint>

namespace iogate {

// V5: is there a caught signal (a handler, not SIG_DFL/SIG_IGN) that could
// interrupt a sleeping call of the calling (preload) or served (syscall)
// thread with EINTR? A signal that thread blocks cannot: it goes to another
// thread or waits (a worker pool that blocks every signal and leaves them to
// one sigwait thread never sees EINTR). For socket calls the handler must
// lack SA_RESTART unless the socket has a receive/send timeout (restart_ok).
bool caught_signal_could_interrupt(bool restart_ok);

// SO_RCVTIMEO (reading) or SO_SNDTIMEO (writing) is set on fd.
bool socket_has_timeout(int fd, bool reading);

// V3/V14: if fd is signal-driven (O_ASYNC) and still ready for `bit`
// (EPOLLIN/EPOLLOUT), queue its owner the signal the kernel would have sent
// (F_GETSIG, SIGIO if 0) with si_fd, si_band and si_code POLL_IN/POLL_OUT.
// Returns true when a signal was queued.
bool owe_sigio(int fd, uint32_t bit, bool (*still_ready)(int fd, uint32_t bit));

}  // namespace iogate
