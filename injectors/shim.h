// Shared state of the preload shim (libiogate_inject.so): the loaded plan,
// the recursion guard, and the decision every faultable call goes through.
//
// Thread rules: the plan is written once by the load-time constructor before
// g_ready is set and only read afterwards; t_in_shim is per thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "legality.h"
#include "plan.h"

#define IOGATE_EXPORT extern "C" __attribute__((visibility("default")))

namespace iogate {

extern std::atomic<bool> g_ready;
extern const Plan* g_plan;
extern unsigned g_class_mask;  // IOGATE_C bits of the classes that have rules
extern thread_local bool t_in_shim;

// True when the shim should look at this call at all: loaded, not one of its
// own calls. (Each wrapper then decides whether there is anything to do.)
// Parses and installs the plan (g_plan, g_class_mask). "" or the problem.
std::string plan_install(const char* text);
// The preload shim's libfiu gate (fiu-ctrl can switch a rule off); null: all allowed.
extern bool (*g_allows)(const Rule&);

inline bool shim_active() { return g_ready.load(std::memory_order_relaxed) && !t_in_shim; }
inline bool class_has_rules(CallClass c) { return g_class_mask & (1u << static_cast<unsigned>(c)); }

class Guard {  // marks "inside the shim" for the calls the shim itself makes
 public:
  Guard() : was_(t_in_shim) { t_in_shim = true; }
  ~Guard() { t_in_shim = was_; }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  bool was_;
};

struct Decision {
  const Rule* rule = nullptr;  // the rule that fired, if any
  Outcome out;                 // what to do (pass if nothing fired)
  const char* note = nullptr;  // why a chosen fault was changed or dropped
};

using StateFn = CallState (*)(const Rule&, void* ctx);

// The first rule of class `cls` (and op) that the schedule fires on this call
// and that legality turns into an action (under robust=off: into an action
// that is not a robustness fault; a dropped one leaves its note). conn: the connection ordinal; idx:
// the 1-based index of this call in its class on this fd (or wait instance);
// fired: that fd's per-rule fire counters. state_of is called only for rules
// the schedule chose (it may make syscalls).
Decision decide(CallClass cls, Op op, uint64_t conn, uint64_t idx, std::atomic<uint32_t>* fired,
                StateFn state_of, void* ctx);

// Readiness the kernel will not announce again after an injected EAGAIN or
// short transfer: owed to edge-triggered epoll registrations and SIGIO owners.
void owe_readiness(int fd, uint32_t bit);
void owe_readiness_always(int fd, uint32_t bit);  // the fd is known to be ready (reset, eof)

// Really end a connection the way the peer can see: RST or FIN.
void really_reset(int fd);
void really_shutdown(int fd);

bool fd_nonblocking(int fd, int msg_flags);

// The fd's poll(2) revents for `events` right now, without waiting (0: none):
// the shim's one probe of what the kernel would report.
short poll_now(int fd, short events);

}  // namespace iogate
