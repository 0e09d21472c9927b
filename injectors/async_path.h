// The decision path of completion-based requests (V12, V13), shared by both
// backends like data_path.h: a request is decided when it is submitted, per
// operation (op=recv, op=send) on its connection. The preload shim applies
// it to POSIX AIO control blocks and to the io_uring SQEs liburing is about
// to submit (shim_async.cc); the syscall backend to the SQEs in the
// program's ring at io_uring_enter (syscall/uring.cc).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "fdtable.h"
#include "shim.h"

namespace iogate {

// Decides one asynchronous request on fd (*state: its slot, nullptr when fd
// is not a TCP stream socket: nothing decided). A socket the process did not
// get from accept() or connect() (io_uring's own accept) is numbered when
// its first request is seen.
Decision decide_async(CallClass cls, Op op, int fd, std::size_t len, FdState** state);

// Ends a connection for real for an injected reset or EOF (V8).
void end_connection(int fd, FdState* s, Action a);

void trace_request(const char* name, int fd, FdState* s, std::size_t len, long long ret, int err, const Decision& d);

// The SQEs of one submission, decided and rewritten before the kernel reads
// them: `partial` lowers sqe->len (a real short recv/send); `reset`/`eof`
// turn the recv into a NOP that completes with the kernel's answer
// (IORING_NOP_INJECT_RESULT, Linux 6.10) and end the connection after the
// submission, or, before 6.10, end it at once.
class UringBatch {
 public:
  // Decides one SQE and rewrites it in place; true when it was changed.
  bool fault(struct io_uring_sqe* sqe);
  // After the submission: the connections its faults end.
  void after_submit();
  const std::vector<std::pair<int, Action>>& ending() const { return end_; }

 private:
  std::vector<std::pair<int, Action>> end_;
};

}  // namespace iogate
