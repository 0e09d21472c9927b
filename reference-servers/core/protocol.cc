#include "protocol.h"

namespace iogate {

std::optional<Protocol> protocol_from_name(std::string_view name) {
  if (name == "seq") return Protocol::seq;
  if (name == "echo") return Protocol::echo;
  return std::nullopt;
}

const char* protocol_name(Protocol p) { return p == Protocol::seq ? "seq" : "echo"; }

std::string_view Session::greeting() const {
  return proto_ == Protocol::seq ? std::string_view("*", 1) : std::string_view();
}

void Session::feed(const char* data, std::size_t n, std::string& out) {
  if (proto_ == Protocol::echo) {
    out.append(data, n);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char b = static_cast<unsigned char>(data[i]);
    if (!in_frame_) {
      in_frame_ = (b == '^');
    } else if (b == '$') {
      in_frame_ = false;
    } else {
      out.push_back(static_cast<char>(static_cast<unsigned char>(b + 1)));
    }
  }
}

}  // namespace iogate
