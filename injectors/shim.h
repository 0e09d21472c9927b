// Shared state of the preload shim (libiogate_inject.so): the loaded plan,
// the recursion guard and the decision path every data call goes through.
//
// Thread rules: the plan is written once by the load-time constructor before
// g_ready is set and only read afterwards; t_in_shim is per thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "plan.h"

#define IOGATE_EXPORT extern "C" __attribute__((visibility("default")))

namespace iogate {

extern std::atomic<bool> g_ready;
extern const Plan* g_plan;
extern unsigned g_class_mask;  // IOGATE_C bits of the classes that have rules
extern thread_local bool t_in_shim;

// True when the shim should look at this call at all: loaded, not one of its
// own calls. (Each wrapper then decides whether there is anything to do.)
inline bool shim_active() { return g_ready.load(std::memory_order_relaxed) && !t_in_shim; }

class Guard {  // marks "inside the shim" for the calls the shim itself makes
 public:
  Guard() : was_(t_in_shim) { t_in_shim = true; }
  ~Guard() { t_in_shim = was_; }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  bool was_;
};

// libfiu control plane: true unless point iogate/CLASS/FAULT of this rule
// was switched off (fiu-ctrl); consulted only for calls the schedule chose.
bool fiu_allows(const Rule& r);

}  // namespace iogate
