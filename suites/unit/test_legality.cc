// Legality: the outcome the shim produces is one the kernel could produce in
// that state (catalogue rules V1, V2, V4, V8).
#include <catch2/catch.hpp>

#include "legality.h"

using iogate::Action;
using iogate::Fault;
using iogate::legal_outcome;

TEST_CASE("EAGAIN is produced only on a non-blocking socket (V1)", "[legality]") {
  CHECK(legal_outcome(Fault::eagain, 0, 100, true).action == Action::would_block);
  auto o = legal_outcome(Fault::eagain, 0, 100, false);
  CHECK(o.action == Action::shorten);  // a blocking socket gets a real short transfer instead
  CHECK(o.len == 1);
  CHECK(o.note != nullptr);
  CHECK(legal_outcome(Fault::eagain, 0, 1, false).action == Action::pass);  // nothing shorter than 1 byte
}

TEST_CASE("a partial transfer asks the kernel for fewer bytes, never discards (V4)", "[legality]") {
  auto o = legal_outcome(Fault::partial, 7, 4096, true);
  CHECK(o.action == Action::shorten);
  CHECK(o.len == 7);
  CHECK(legal_outcome(Fault::partial, 7, 7, true).action == Action::pass);
  CHECK(legal_outcome(Fault::partial, 7, 3, false).action == Action::pass);
}

TEST_CASE("a zero-length call is never faulted", "[legality]") {
  auto f = GENERATE(Fault::eagain, Fault::partial, Fault::reset);
  CHECK(legal_outcome(f, 1, 0, true).action == Action::pass);
}

TEST_CASE("a reset is a reset on blocking and non-blocking sockets (V8)", "[legality]") {
  CHECK(legal_outcome(Fault::reset, 0, 10, true).action == Action::reset);
  CHECK(legal_outcome(Fault::reset, 0, 10, false).action == Action::reset);
}
