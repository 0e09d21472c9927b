#include "schedule.h"

namespace iogate {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t schedule_hash(uint64_t seed, uint64_t rule, uint64_t conn, uint64_t call_index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ rule);
  h = splitmix64(h ^ conn);
  return splitmix64(h ^ call_index);
}

bool rule_fires(const Rule& r, uint64_t seed, uint64_t conn, uint64_t call_index, uint64_t fired_before) {
  // For wait rules conn=K names the fd to report, not the caller: checked by the caller.
  if (r.conn != 0 && r.conn != conn && r.cls != CallClass::wait) return false;
  if (call_index <= r.after) return false;
  if ((call_index - r.after) % r.every != 0) return false;
  if (fired_before >= r.count) return false;
  if (r.p >= 1.0) return true;
  // 53 high bits -> a double in [0, 1).
  const double u = static_cast<double>(schedule_hash(seed, static_cast<uint64_t>(r.index), conn, call_index) >> 11) *
                   (1.0 / 9007199254740992.0);
  return u < r.p;
}

}  // namespace iogate
