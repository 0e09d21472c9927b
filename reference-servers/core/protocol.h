// The IO-free protocol core shared by every reference server and mutant.
// Bytes in, bytes out: no sockets, no syscalls, no global state.
//
// Ownership: a Session belongs to exactly one connection and is used by one
// thread at a time (the thread that currently owns that connection).
//
// Protocols (DESIGN.md, "Wire protocols"):
//   seq  - greeting "*"; outside a frame bytes are ignored; '^' opens a frame;
//          inside a frame every byte b != '$' is answered with b+1 (mod 256);
//          '$' closes the frame.
//   echo - every byte is sent back unchanged.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace iogate {

enum class Protocol { seq, echo };

// "seq" -> Protocol::seq, "echo" -> Protocol::echo, anything else -> nullopt.
std::optional<Protocol> protocol_from_name(std::string_view name);
const char* protocol_name(Protocol p);

class Session {
 public:
  explicit Session(Protocol p) : proto_(p) {}

  // The bytes the server owes a client right after accept ("*" for seq).
  std::string_view greeting() const;

  // Consume `n` input bytes and append the replies they produce to `out`.
  // Frame state survives between calls, so any split of the input stream
  // gives the same concatenated output as one call with all of it.
  void feed(const char* data, std::size_t n, std::string& out);

 private:
  Protocol proto_;
  bool in_frame_ = false;
};

}  // namespace iogate
