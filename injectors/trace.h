// The trace: IOGATE_TRACE=FILE makes the shim write one JSON object per
// intercepted call (JSON Lines, docs/trace.md). Each record is written with
// one write(2) to an O_APPEND file as soon as the call returns, so a server
// killed by the harness loses nothing.
//
// Thread rules: TraceLine is a stack object of the calling thread; emit() is
// safe from any thread (one write per record).
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace iogate {

// Opens the trace file named by IOGATE_TRACE, if any. Returns "" or a problem.
const char* trace_open();
bool trace_on();

class TraceLine {
 public:
  explicit TraceLine(const char* call);  // adds ts, pid, tid, call
  TraceLine& num(const char* key, long long v);
  TraceLine& str(const char* key, const char* v);  // null -> JSON null
  TraceLine& err(int e);                          // "errno": "EAGAIN" (name)
  TraceLine& raw(const char* key, const char* json);
  TraceLine& open_array(const char* key);
  TraceLine& array_item_pair(long long fd, const char* ev);  // [fd, "EV"]
  TraceLine& close_array();
  void emit();

 private:
  void put(const char* s, std::size_t n);
  void put(const char* s);
  void key(const char* k);
  void escaped(const char* s);
  char buf_[8192];
  std::size_t n_ = 0;
  bool first_item_ = true;
};

// Holds the harness's stop signals (SIGTERM, SIGINT, SIGHUP) from the moment
// a call returned until its record is written, so a server stopped by the
// harness right after an IO call still leaves that call in the trace. No-op
// when not tracing; never held across a call that can block.
class StopSignalsHeld {
 public:
  StopSignalsHeld();
  ~StopSignalsHeld();
  StopSignalsHeld(const StopSignalsHeld&) = delete;
  StopSignalsHeld& operator=(const StopSignalsHeld&) = delete;

 private:
  bool held_ = false;
  sigset_t old_;
};

// Called in the child after fork(): refresh the cached pid.
void trace_after_fork();

// The syscall supervisor writes the records of the process and thread whose
// call it handles (the calling thread's next records carry these ids).
void trace_identity(pid_t pid, pid_t tid);

}  // namespace iogate
