// A small reusable Reactor/EventHandler framework, the Reactor pattern of the
// seed articles: an EventHandler owns a Handle (handle()) and reacts to it in
// handle_event(); the Reactor registers handlers and runs the event loop over
// a synchronous event Demultiplexer (select, poll or epoll level-triggered).
//
// Ownership:
//   - An EventHandler and its fd are owned by the application, never by the
//     Reactor: the Reactor borrows the handler from register_handler() until
//     remove_handler(). Call remove_handler() before close(fd) (select and
//     poll keep the number, epoll would keep a dup'ed description).
//   - After remove_handler() the Reactor never touches that handler again,
//     not even for events of the batch being dispatched (a registration
//     generation is checked before every call), so its owner may free it;
//     a handler that does so from its own handle_event() must return at once.
//   - The Reactor owns its Demultiplexer and its wake-up eventfd, and owns the
//     functions passed to queue()/run_after() until they have run (or until
//     the Reactor is destroyed: those still waiting are destroyed unrun).
// Thread rules (muduo style: one loop per thread):
//   - A Reactor is used by one thread, its loop thread: the thread that calls
//     run() (before that, the thread that created it). register_handler(),
//     modify(), remove_handler(), run_after() and every handle_event() call
//     happen there only (asserted in debug builds).
//   - stop() and queue() are safe from any thread. queue() writes the eventfd
//     unless called by the running loop itself (also before run() starts, so
//     nothing queued early is left waiting); queued functions run in the loop
//     thread after the current batch of events, in order.
//   - A Demultiplexer is never shared: only its Reactor's loop thread calls it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace iogate::reactor {

// Interest and event bits. An error or hang-up is reported as both: the next
// recv()/send() on the fd tells the handler what really happened.
constexpr uint32_t kReadable = 1u << 0;
constexpr uint32_t kWritable = 1u << 1;

struct Fired {
  int fd;
  uint32_t events;  // kReadable | kWritable
};

// The pluggable synchronous event demultiplexer: five operations, level-
// triggered, fds only (no handlers, no policy). Created by
// make_demultiplexer(); destroyed with its Reactor. Interest is never 0 here:
// the Reactor removes an fd that waits for nothing (epoll and poll would
// still report EPOLLHUP/POLLHUP for it, and a level-triggered loop would spin).
class Demultiplexer {
 public:
  Demultiplexer() = default;
  Demultiplexer(const Demultiplexer&) = delete;
  Demultiplexer& operator=(const Demultiplexer&) = delete;
  virtual ~Demultiplexer() = default;

  // false with errno set when the fd cannot be watched (ENOMEM, ENOSPC;
  // EINVAL from select for fd >= FD_SETSIZE). The fd is then not watched.
  virtual bool add(int fd, uint32_t interest) = 0;
  virtual bool modify(int fd, uint32_t interest) = 0;
  virtual void remove(int fd) = 0;
  // Waits up to timeout_ms (-1: no limit) and replaces `fired` with the ready
  // fds. Returns their number, or -1 with errno (classify with classify_wait).
  virtual int wait(std::vector<Fired>& fired, int timeout_ms) = 0;
  virtual const char* name() const = 0;
};

// "select", "poll" or "epoll" (level-triggered). nullptr with errno set:
// EINVAL for an unknown name, or the error of epoll_create1().
std::unique_ptr<Demultiplexer> make_demultiplexer(const std::string& name);

class EventHandler {
 public:
  EventHandler() = default;
  EventHandler(const EventHandler&) = delete;
  EventHandler& operator=(const EventHandler&) = delete;
  virtual ~EventHandler() = default;

  virtual int handle() const = 0;  // the fd; must not change while registered
  // Called in the loop thread with the ready bits the handler asked for.
  // Readiness is a hint: the handler's non-blocking call may still say EAGAIN.
  virtual void handle_event(uint32_t events) = 0;
};

class Reactor {
 public:
  // nullptr with errno set when `demux` is null or eventfd() fails.
  static std::unique_ptr<Reactor> create(std::unique_ptr<Demultiplexer> demux);
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;
  ~Reactor();

  // Loop thread only. interest 0 registers the handler without watching its
  // fd yet. false with errno set: the handler is not registered / keeps its
  // previous interest.
  bool register_handler(EventHandler* h, uint32_t interest);
  bool modify(EventHandler* h, uint32_t interest);  // no syscall if unchanged
  void remove_handler(EventHandler* h);
  // Runs `fn` in the loop thread once `delay` has passed (a one-shot timer).
  void run_after(std::chrono::milliseconds delay, std::function<void()> fn);

  // Dispatches events, timers and queued functions until stop(). Runs the
  // functions still queued at that moment, then returns 0; returns 1 after a
  // fatal demultiplexer error (printed with perror).
  int run();

  void stop();                           // any thread
  void queue(std::function<void()> fn);  // any thread
  const char* demux_name() const { return demux_->name(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    EventHandler* handler;
    uint32_t interest;
    uint64_t generation;  // distinguishes a re-registered fd number
  };
  struct Ready {
    int fd;
    uint32_t events;
    uint64_t generation;
  };
  class Wakeup;

  Reactor(std::unique_ptr<Demultiplexer> demux, int wake_fd);
  bool in_loop_thread() const { return loop_thread_.load() == std::this_thread::get_id(); }
  void wake();
  int next_timeout_ms() const;
  void run_timers();
  void run_queued();

  std::unique_ptr<Demultiplexer> demux_;
  int wake_fd_;
  std::unique_ptr<Wakeup> wakeup_;
  std::atomic<std::thread::id> loop_thread_;
  std::atomic<bool> running_{false};  // inside run(): the loop drains queued_ itself
  std::atomic<bool> stopping_{false};
  std::unordered_map<int, Slot> slots_;  // fd -> registration
  uint64_t next_generation_ = 1;
  std::vector<Fired> fired_;
  std::vector<Ready> batch_;
  std::multimap<Clock::time_point, std::function<void()>> timers_;
  std::mutex queue_mu_;  // guards queued_
  std::vector<std::function<void()>> queued_;
};

}  // namespace iogate::reactor
