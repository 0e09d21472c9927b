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
  CHECK(legal_outcome(r, state(100, true)).action == Action::eagain);
  auto o = legal_outcome(r, state(100, false));
  CHECK(o.action == Action::partial);  // a blocking socket gets a real short transfer instead
  CHECK(o.len == 1);
  CHECK(o.note != nullptr);
  CHECK(legal_outcome(r, state(1, false)).action == Action::pass);  // nothing shorter than 1 byte
}

TEST_CASE("accept returns EAGAIN only on a non-blocking listener and is otherwise left alone (V1)", "[legality]") {
  const auto r = rule_of("accept.eagain:every=2");
  CHECK(legal_outcome(r, state(0, true)).action == Action::eagain);
  auto o = legal_outcome(r, state(0, false));
  CHECK(o.action == Action::pass);
  CHECK(o.note != nullptr);
}

TEST_CASE("a partial transfer asks the kernel for fewer bytes, never discards (V4)", "[legality]") {
  const auto r = rule_of("send.partial:max=7");
  auto o = legal_outcome(r, state(4096, true));
  CHECK(o.action == Action::partial);
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
  CHECK(legal_outcome(r, state(10, false, true)).action == Action::eintr);
  CHECK(legal_outcome(r, state(10, true, true)).action == Action::pass);   // non-blocking never sleeps
  CHECK(legal_outcome(r, state(10, false, false)).action == Action::pass);  // no caught signal
  const auto w = rule_of("wait.eintr:every=3");
  CHECK(legal_outcome(w, state(0, false, true)).action == Action::eintr);
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
  CHECK(legal_outcome(rule_of("accept.econnaborted"), state(0, false)).action == Action::econnaborted);
  CallState queued = state(0, true);
  queued.readable = true;
  CHECK(legal_outcome(rule_of("accept.econnaborted"), queued).action == Action::econnaborted);
  // A non-blocking listener with nothing queued says EAGAIN: nothing to abort, and the rule's
  // count is not spent on it (regression: busy_poll's accept.econnaborted.continues was hollow).
  const iogate::Outcome idle = legal_outcome(rule_of("accept.econnaborted:count=1"), state(0, true));
  CHECK(idle.action == Action::pass);
  CHECK(idle.note != nullptr);
}

TEST_CASE("spurious readiness is an action of wait rules (V6)", "[legality]") {
  CHECK(legal_outcome(rule_of("wait.spurious:every=2"), state(0, false)).action == Action::spurious);
}

// -- robustness faults (V18): the robustness table of faults.def ------------

namespace {
CallState blocking_send(bool caught, bool timeout) {
  CallState st = state(100, false);
  st.caught = caught;
  st.timeout = timeout;
  return st;
}
}  // namespace

TEST_CASE("a short send on a blocking socket is robustness-only without a caught signal or SO_SNDTIMEO (V4)",
          "[legality][robust]") {
  const auto partial = rule_of("send.partial:max=7");
  auto o = legal_outcome(partial, blocking_send(false, false));
  CHECK(o.action == Action::partial);  // still produced (robust=on is the default) ...
  REQUIRE(o.robust != nullptr);        // ... but marked, with its rule
  CHECK_THAT(o.robust, Catch::StartsWith("V4: short send on a blocking socket"));
  CHECK_THAT(o.robust_off, Catch::StartsWith("robust=off: not injected (V4"));
  CHECK(legal_outcome(partial, blocking_send(true, false)).robust == nullptr);  // a handler may cut it short
  CHECK(legal_outcome(partial, blocking_send(false, true)).robust == nullptr);  // so may the timeout
  CHECK(legal_outcome(partial, state(100, true)).robust == nullptr);            // non-blocking: always legal
  // send.eagain on a blocking socket becomes a 1-byte send: the same rule
  auto e = legal_outcome(rule_of("send.eagain:every=2"), blocking_send(false, false));
  CHECK(e.action == Action::partial);
  CHECK(e.robust != nullptr);
}

TEST_CASE("a short recv is kernel-possible, except recv(MSG_WAITALL) on a blocking socket with nothing to cut it (V4)",
          "[legality][robust]") {
  const auto r = rule_of("recv.partial:max=1");
  CHECK(legal_outcome(r, state(100, false)).robust == nullptr);
  CallState st = state(100, false);
  st.waitall = true;
  CHECK_THAT(legal_outcome(r, st).robust, Catch::StartsWith("V4: short recv(MSG_WAITALL)"));
  st.caught = true;
  CHECK(legal_outcome(r, st).robust == nullptr);
  st = state(100, true);
  st.waitall = true;
  CHECK(legal_outcome(r, st).robust == nullptr);
}

TEST_CASE("a short aio_write on a blocking socket is robustness-only; short aio reads are not (V4, V12)",
          "[legality][robust]") {
  const auto r = rule_of("aio.partial:max=3");
  CallState st = state(10, false);
  st.op = iogate::Op::send;
  CHECK(legal_outcome(r, st).robust != nullptr);
  st.timeout = true;
  CHECK(legal_outcome(r, st).robust == nullptr);
  st = state(10, false);
  st.op = iogate::Op::recv;
  CHECK(legal_outcome(r, st).robust == nullptr);
}

TEST_CASE("EINTR from an epoll wait is robustness-only with timeout 0, kernel-possible without a handler (V5)",
          "[legality][robust]") {
  const auto w = rule_of("wait.eintr:every=3");
  CallState st;
  st.epoll = true;
  st.interruptible = true;  // epoll: a stop and continue ends it with EINTR, no handler needed (signal(7))
  auto o = legal_outcome(w, st);
  CHECK(o.action == Action::eintr);
  CHECK(o.robust == nullptr);
  st.caught = true;
  CHECK(legal_outcome(w, st).robust == nullptr);
  st.no_sleep = true;
  CHECK_THAT(legal_outcome(w, st).robust, Catch::Contains("timeout 0"));
  CallState sel;  // select/poll: EINTR needs a caught signal (then kernel-possible, even with timeout 0)
  sel.interruptible = sel.caught = sel.no_sleep = true;
  CHECK(legal_outcome(w, sel).action == Action::eintr);
  CHECK(legal_outcome(w, sel).robust == nullptr);
}

TEST_CASE("aio_suspend gets EINTR only while it would sleep and a signal could end it, never a spurious return",
          "[legality]") {
  CallState st;
  st.completion = true;  // aio_suspend(3)
  st.interruptible = true;
  const auto w = rule_of("wait.eintr:every=3");
  auto o = legal_outcome(w, st);
  CHECK(o.action == Action::eintr);
  CHECK(o.robust == nullptr);
  st.no_sleep = true;  // timeout 0, or a listed request already done: it returns at once
  o = legal_outcome(w, st);
  CHECK(o.action == Action::pass);
  CHECK_THAT(o.note, Catch::Contains("aio_suspend returns at once"));
  st.no_sleep = false;
  st.interruptible = false;  // no caught signal, or one with SA_RESTART and no timeout, or blocked
  o = legal_outcome(w, st);
  CHECK(o.action == Action::pass);
  CHECK_THAT(o.note, Catch::Contains("EINTR impossible"));
  st.interruptible = true;  // POSIX: it returns on a completion, the timeout or a signal, nothing else
  o = legal_outcome(rule_of("wait.spurious:every=2"), st);
  CHECK(o.action == Action::pass);
  CHECK_THAT(o.note, Catch::Contains("no spurious return"));
}

TEST_CASE("spurious readiness of a TCP socket is robustness-only, unless a listener shared after fork (V6)",
          "[legality][robust]") {
  using iogate::CallClass;
  // legal_outcome cannot know the fd a spurious report will name: the caller classifies it
  CHECK(legal_outcome(rule_of("wait.spurious:every=2"), state(0, false)).robust == nullptr);
  CallState target;
  const auto* row = iogate::robustness(CallClass::wait, Action::spurious, target);
  REQUIRE(row != nullptr);
  CHECK_THAT(row->reason, Catch::StartsWith("V6: spurious readiness of a TCP socket"));
  target.shared_listener = true;  // after fork another process may take the connection first
  CHECK(iogate::robustness(CallClass::wait, Action::spurious, target) == nullptr);
  target = CallState{};
  target.nonblocking = true;  // non-blocking or not: tcp_poll does not report a socket with nothing queued
  CHECK(iogate::robustness(CallClass::wait, Action::spurious, target) != nullptr);
}

TEST_CASE("the kernel-possible outcomes of every other fault carry no robustness mark (V18)", "[legality][robust]") {
  const char* plan = GENERATE("recv.eagain:every=2", "recv.partial:max=1", "recv.reset", "recv.eof", "send.epipe",
                              "recv.eintr:every=2", "send.eintr:every=2", "accept.eintr:every=2",
                              "accept.eagain:every=2", "accept.emfile:count=1", "accept.econnaborted",
                              "uring.partial:max=1", "uring.eof");
  CAPTURE(plan);
  for (bool nb : {true, false}) {
    CallState st = state(10, nb, true);
    st.caught = true;
    CHECK(legal_outcome(rule_of(plan), st).robust == nullptr);
  }
}

TEST_CASE("EAGAIN from a read is robustness-only while something is queued (V1, V18)", "[legality][robust]") {
  const auto r = rule_of("recv.eagain:every=2");
  CallState st = state(100, true);
  auto o = legal_outcome(r, st);
  CHECK(o.action == Action::eagain);
  CHECK(o.robust == nullptr);  // nothing queued: the kernel's own answer
  st.readable = true;
  o = legal_outcome(r, st);
  CHECK(o.action == Action::eagain);
  CHECK_THAT(o.robust, Catch::StartsWith("V1: EAGAIN from a read while data"));
  const auto s = rule_of("send.eagain:every=2");  // a full send buffer is the peer's doing: always possible
  CallState w = state(100, true);
  w.readable = true;
  CHECK(legal_outcome(s, w).robust == nullptr);
}
