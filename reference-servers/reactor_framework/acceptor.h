// The listener's handler of the Reactor family (reactor, proactor,
// multi_reactor): what is not their lesson lives here once. handle_event()
// accepts until EAGAIN (accept4 with SOCK_NONBLOCK) and hands every new
// connection to on_accepted(); EINTR and ECONNABORTED accept again; out of
// descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM) the queued clients keep the
// listener readable, so it stops watching the listener for kAcceptBackOff
// (a level-triggered loop would otherwise spin); a broken listener exits.
// Each server's lesson is what it does with the fd: a Connection handler
// (reactor), a hand-off to a sub-reactor (multi_reactor), an AsyncSocket
// (proactor).
#pragma once

#include <chrono>
#include <cstdint>

#include "reactor.h"

namespace iogate::reactor {

constexpr std::chrono::milliseconds kAcceptBackOff{50};

class Acceptor : public EventHandler {
 public:
  // `who` names the server in the message of a broken listener.
  Acceptor(Reactor& r, int listener, const char* who) : reactor_(r), listener_(listener), who_(who) {}
  ~Acceptor() override;  // closes the listener
  int handle() const override { return listener_; }
  void handle_event(uint32_t events) final;

 protected:
  virtual void on_accepted(int fd) = 0;  // owns fd from here on
  Reactor& reactor() { return reactor_; }

 private:
  void listen_for(uint32_t interest);

  Reactor& reactor_;
  int listener_;
  const char* who_;
};

}  // namespace iogate::reactor
