#include "legality.h"

namespace iogate {

Outcome legal_outcome(Fault f, uint64_t max, std::size_t len, bool nonblocking) {
  Outcome o;
  // recv(2): a zero-length request may return 0 without meaning EOF; never fault it.
  if (len == 0) return o;
  switch (f) {
    case Fault::partial:
      if (max < len) {
        o.action = Action::shorten;
        o.len = static_cast<std::size_t>(max);
      }
      return o;
    case Fault::eagain:
      if (nonblocking) {
        o.action = Action::would_block;
      } else if (len > 1) {
        // V1: a blocking socket never returns EAGAIN; a short transfer is
        // what the kernel can do instead.
        o.action = Action::shorten;
        o.len = 1;
        o.note = "blocking socket: shortened to 1 byte instead of EAGAIN (V1)";
      }
      return o;
    case Fault::reset:
      o.action = Action::reset;
      return o;
  }
  return o;
}

}  // namespace iogate
