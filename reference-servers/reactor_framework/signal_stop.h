// SignalStop: SIGTERM and SIGINT delivered through a signalfd(2) that is
// registered with a Reactor like any other handler; when one arrives the
// handler runs its stop action (typically Reactor::stop() on every loop).
//
// Ownership: owns the signalfd (closed by the destructor); the stop action is
// owned by the handler. The application owns the SignalStop itself.
// Thread rules: create() from main() BEFORE any thread starts: it blocks the
// signals with pthread_sigmask(2), threads inherit that mask, so no thread is
// ever interrupted and only the signalfd sees them (signalfd(2): "the signals
// ... should be blocked"). handle_event() runs in the loop thread of the
// Reactor it is registered with; the stop action runs there.
#pragma once

#include <functional>
#include <memory>

#include "reactor.h"

namespace iogate::reactor {

class SignalStop final : public EventHandler {
 public:
  // nullptr with errno set when the signalfd cannot be created.
  static std::unique_ptr<SignalStop> create(std::function<void()> stop);
  ~SignalStop() override;

  int handle() const override { return fd_; }
  void handle_event(uint32_t events) override;

 private:
  SignalStop(int fd, std::function<void()> stop) : fd_(fd), stop_(std::move(stop)) {}
  int fd_;
  std::function<void()> stop_;
};

}  // namespace iogate::reactor
