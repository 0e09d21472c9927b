// Legality: the outcome the shim produces is one the kernel could produce in
// that state (catalogue rules V1, V2, V4, V5, V8..V10).
#include <catch2/catch.hpp>

#include "legality.h"
#include "plan.h"

using iogate::Action;
using iogate::CallState;
using iogate::legal_outcome;

namespace {
iogate::Rule rule_of(const char* text) {
  iogate::Plan p;
  REQUIRE(iogate::parse_plan(text, p) == "");
  return p.rules.at(0);
}

CallState state(std::size_t len, bool nonblocking, bool interruptible = false) {
  CallState st;
  st.len = len;
  st.nonblocking = nonblocking;
  st.interruptible = interruptible;
  return st;
}
}  // namespace

TEST_CASE("EAGAIN is produced only on a non-blocking socket (V1)", "[legality]") {
  const auto r = rule_of("recv.eagain:every=2");
  CHECK(legal_outcome(r, state(100, true)).action == Action::would_block);
  auto o = legal_outcome(r, state(100, false));
  CHECK(o.action == Action::shorten);  // a blocking socket gets a real short transfer instead
  CHECK(o.len == 1);
  CHECK(o.note != nullptr);
  CHECK(legal_outcome(r, state(1, false)).action == Action::pass);  // nothing shorter than 1 byte
}

TEST_CASE("accept returns EAGAIN only on a non-blocking listener and is otherwise left alone (V1)", "[legality]") {
  const auto r = rule_of("accept.eagain:every=2");
  CHECK(legal_outcome(r, state(0, true)).action == Action::would_block);
  auto o = legal_outcome(r, state(0, false));
  CHECK(o.action == Action::pass);
  CHECK(o.note != nullptr);
}

TEST_CASE("a partial transfer asks the kernel for fewer bytes, never discards (V4)", "[legality]") {
  const auto r = rule_of("send.partial:max=7");
  auto o = legal_outcome(r, state(4096, true));
  CHECK(o.action == Action::shorten);
  CHECK(o.len == 7);
  CHECK(legal_outcome(r, state(7, true)).action == Action::pass);
  CHECK(legal_outcome(r, state(3, false)).action == Action::pass);
}

TEST_CASE("a zero-length data call is never faulted", "[legality]") {
  const char* plan = GENERATE("recv.eagain:every=2", "recv.partial:max=1", "recv.reset", "recv.eof",
                              "send.epipe", "recv.eintr:every=2", "aio.partial:max=1", "uring.eof");
  CAPTURE(plan);
  CHECK(legal_outcome(rule_of(plan), state(0, true, true)).action == Action::pass);
}

TEST_CASE("EINTR needs a call that sleeps and a signal that could interrupt it (V5)", "[legality]") {
  const auto r = rule_of("recv.eintr:every=2");
  CHECK(legal_outcome(r, state(10, false, true)).action == Action::interrupt);
  CHECK(legal_outcome(r, state(10, true, true)).action == Action::pass);   // non-blocking never sleeps
  CHECK(legal_outcome(r, state(10, false, false)).action == Action::pass);  // no caught signal
  const auto w = rule_of("wait.eintr:every=3");
  CHECK(legal_outcome(w, state(0, false, true)).action == Action::interrupt);
  CHECK(legal_outcome(w, state(0, false, false)).note != nullptr);
}

TEST_CASE("connection-ending faults are real on blocking and non-blocking sockets (V8, V9)", "[legality]") {
  const bool nb = GENERATE(true, false);
  CHECK(legal_outcome(rule_of("recv.reset"), state(10, nb)).action == Action::reset);
  CHECK(legal_outcome(rule_of("recv.eof"), state(10, nb)).action == Action::eof);
  CHECK(legal_outcome(rule_of("send.epipe"), state(10, nb)).action == Action::epipe);
}

TEST_CASE("accept faults keep the queue consistent (V10)", "[legality]") {
  CHECK(legal_outcome(rule_of("accept.emfile:count=3"), state(0, true)).action == Action::emfile);
  CHECK(legal_outcome(rule_of("accept.econnaborted"), state(0, false)).action == Action::abort_accept);
}

TEST_CASE("spurious readiness is an action of wait rules (V6)", "[legality]") {
  CHECK(legal_outcome(rule_of("wait.spurious:every=2"), state(0, false)).action == Action::spurious);
}
