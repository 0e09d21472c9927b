// The deterministic schedule: whether a rule fires on one call is a pure
// function of (seed, rule, connection ordinal, per-connection call index,
// times the rule already fired on that connection). No clock, no global PRNG,
// no thread timing: the same plan and the same call sequence give the same
// faults. IO-free, unit-tested.
#pragma once

#include <cstdint>

#include "plan.h"

namespace iogate {

// A 64-bit mix of the four inputs (splitmix64 finaliser over a combination).
uint64_t schedule_hash(uint64_t seed, uint64_t rule, uint64_t conn, uint64_t call_index);

// call_index: 1-based index of this call among the calls of the rule's class
// on this connection. conn: 1-based ordinal of the accepted connection, 0 for
// sockets the process did not accept (e.g. a client's own socket).
bool rule_fires(const Rule& r, uint64_t seed, uint64_t conn, uint64_t call_index, uint64_t fired_before);

}  // namespace iogate
