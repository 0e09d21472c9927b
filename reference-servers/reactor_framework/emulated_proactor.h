// A Proactor emulated on the Reactor (the seeds' 同步I/O模拟Proactor): the
// application starts asynchronous operations, async_read(socket, handler)
// and async_write(socket, buffer, handler), and reacts in completion
// handlers. Each armed operation becomes interest on a level-triggered
// Reactor; when the loop thread sees the fd ready it hands the operation to a
// worker thread, which performs the recv()/send() and invokes the handler.
// At most one operation per direction is in flight on a socket; a write
// completes only when its whole buffer is sent (or with the error, saying
// how many bytes went). A would-block result (spurious readiness, EAGAIN, the
// rest of a short send) re-arms the operation silently.
//
// Ownership:
//   - An AsyncSocket owns its fd (closed by its destructor) and is shared:
//     the Proactor's registry (from adopt() until close() has been handled
//     in the loop thread), every armed or running operation and every queued
//     Reactor function hold a shared_ptr, so the fd is closed only when no
//     thread can use it any more (no closed or reused fd number is touched).
//   - A write operation owns its buffer until its completion handler runs;
//     a read's 4096-byte buffer belongs to the worker and is valid only
//     during the completion call.
//   - The Proactor owns its worker threads (joined by its destructor) and
//     borrows the Reactor, which must outlive it.
// Thread rules:
//   - adopt() in the Reactor's loop thread; async_read(), async_write() and
//     close() from any thread (completion handlers run on workers).
//   - All epoll interest changes happen in the loop thread: other threads
//     ask for them with Reactor::queue().
//   - The operation state of a socket is guarded by its own mutex, never held
//     while a completion handler runs, so handlers may start operations.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "errclass.h"
#include "outbuf.h"
#include "reactor.h"

namespace iogate::reactor {

class Proactor;
class AsyncSocket;
using SocketPtr = std::shared_ptr<AsyncSocket>;

// A completion handler. Read: progress (data, n), closed (EOF) or peer_gone.
// Write: progress (the whole buffer went) or peer_gone; data is nullptr and
// n the number of bytes sent.
using Completion = void (*)(const SocketPtr&, IoClass, const char* data, std::size_t n);

class AsyncSocket : public EventHandler, public std::enable_shared_from_this<AsyncSocket> {
 public:
  AsyncSocket(Proactor& px, int fd) : px_(px), fd_(fd) {}
  ~AsyncSocket() override;
  int handle() const override { return fd_; }
  void handle_event(uint32_t events) override;  // loop thread
  Proactor& proactor() const { return px_; }

 private:
  friend class Proactor;
  enum class State { idle, armed, running };
  struct Operation {
    State state = State::idle;
    Completion done = nullptr;
    OutBuf buf;           // a write's buffer
    std::size_t len = 0;  // its size when started
  };

  Proactor& px_;
  const int fd_;
  std::mutex mu_;  // guards closed_ and ops_
  bool closed_ = false;
  Operation ops_[2];  // [0] read, [1] write
};

class Proactor {
 public:
  Proactor(Reactor& reactor, int threads);  // starts the workers
  Proactor(const Proactor&) = delete;
  Proactor& operator=(const Proactor&) = delete;
  ~Proactor();  // joins the workers, then lets go of every socket

  void adopt(const SocketPtr& s);  // loop thread: registered, watching nothing yet

  // false: the socket is closed or an operation of that direction is pending.
  bool async_read(const SocketPtr& s, Completion done);
  bool async_write(const SocketPtr& s, std::string data, Completion done);
  // Cancels the armed operations (running ones still complete) and leaves
  // the Reactor; the fd closes when the last shared_ptr goes.
  void close(const SocketPtr& s);

 private:
  friend class AsyncSocket;
  enum Dir { kRead = 0, kWrite = 1 };
  bool begin(const SocketPtr& s, Dir d, Completion done, std::string_view data);
  void on_ready(const SocketPtr& s, uint32_t events);  // loop thread
  void rearm(const SocketPtr& s);
  void sync_interest(const SocketPtr& s);  // loop thread
  void perform(const SocketPtr& s, Dir d);  // worker
  void submit(std::function<void()> task);
  void work();

  Reactor& reactor_;
  std::unordered_map<AsyncSocket*, SocketPtr> live_;  // loop thread only
  std::mutex mu_;                                     // guards tasks_ and stopping_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace iogate::reactor
