// The fault plan: parsed from IOGATE_FAULTS, IO-free, unit-tested.
//
//   plan  := item (';' item)*          items may be empty ("a;;b;")
//   item  := 'seed=' N | 'robust=' ('on' | 'off') | rule
//   rule  := CLASS '.' FAULT [':' key '=' value (',' key '=' value)*]
//   keys  := max=N (bytes, partial only) | every=N | after=N | count=N|inf
//            | p=P (0 < P <= 1) | conn=K (K-th accepted connection, 1-based)
//            | fd=listen|conn | op=recv|send|accept (aio and uring only)
//
// Ownership: a Plan is built once at load time and then only read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iogate {

#define IOGATE_C(id) (1u << static_cast<unsigned>(CallClass::id))

enum class CallClass : uint8_t {
#define IOGATE_CLASS(id, name, doc) id,
#include "faults.def"
};
inline constexpr int kCallClasses = 0
#define IOGATE_CLASS(id, name, doc) +1
#include "faults.def"
    ;

// One enum for what a plan rule asks (Rule.fault: a fault of faults.def) and
// what the shim does to a call (Outcome.action: `pass`, or a fault as it is
// injected; the legality rules may turn one into another, e.g. an EAGAIN on a
// blocking socket into a 1-byte `partial`). A new fault is a -Wswitch error in
// every switch over actions until it is handled there.
enum class Fault : uint8_t {
  pass,  // no fault: call the kernel unchanged
#define IOGATE_FAULT(id, name, classes, needs_max, stalls, seen, doc) id,
#include "faults.def"
};
using Action = Fault;

const char* class_name(CallClass c);
const char* fault_name(Fault f);
const char* fault_doc(Fault f);
unsigned fault_classes(Fault f);  // mask of IOGATE_C(...) bits

enum class FdRole : uint8_t { any, listen, conn };
enum class Op : uint8_t { any, recv, send, accept };

// The keys of a rule, in the parser's order (iogate-tables publishes them).
inline constexpr const char* kRuleKeys[] = {"max", "every", "after", "count", "p", "conn", "fd", "op"};
inline constexpr unsigned kRuleKeyCount = sizeof kRuleKeys / sizeof kRuleKeys[0];
// The items of a plan that are not rules.
inline constexpr const char* kPlanItems[] = {"seed", "robust"};

inline constexpr uint64_t kForever = UINT64_MAX;
inline constexpr int kMaxRules = 16;

struct Rule {
  CallClass cls = CallClass::recv;
  Fault fault = Fault::eagain;
  int index = 0;            // position in the plan, 0-based (part of the seed hash)
  std::string text;         // the rule as written, for traces and messages
  uint64_t max = 0;         // partial: bytes per call
  uint64_t every = 1;       // fire on every N-th eligible call
  uint64_t after = 0;       // skip the first N calls of the class on a connection
  uint64_t count = kForever;  // fire at most N times per connection
  double p = 1.0;           // probability, from the seeded hash
  uint64_t conn = 0;        // 0: any connection; K: only the K-th accepted one
  FdRole fd = FdRole::any;  // listener or connection (for wait: the fd made spuriously ready)
  Op op = Op::any;          // aio/uring: which operation
};

struct Plan {
  std::vector<Rule> rules;
  uint64_t seed = 1;
  bool seed_given = false;
  bool robust = true;        // robust=off: robustness faults (V18, legality.h) are not injected
  bool robust_given = false;
  bool has(CallClass c) const;
};

// Parses `text` into `out`. Returns "" on success, otherwise one line naming
// the rule and the problem (no trailing newline).
std::string parse_plan(std::string_view text, Plan& out);

}  // namespace iogate
