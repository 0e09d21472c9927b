// The plan parser: every good plan is read as written, every bad plan is
// refused with one line that names the rule and the problem.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "plan.h"

using iogate::CallClass;
using iogate::Fault;
using iogate::Plan;
using iogate::parse_plan;

TEST_CASE("an empty plan loads with no rule", "[plan]") {
  Plan p;
  REQUIRE(parse_plan("", p).empty());
  CHECK(p.rules.empty());
  CHECK_FALSE(p.has(CallClass::recv));
  REQUIRE(parse_plan(" ; ;", p).empty());
  CHECK(p.rules.empty());
}

TEST_CASE("a plan's rules keep their order, selectors and text", "[plan]") {
  Plan p;
  REQUIRE(parse_plan("recv.partial:max=1;send.partial:max=2,p=0.5;recv.eagain:every=2,after=3,count=4,conn=5;seed=7",
                     p) == "");
  REQUIRE(p.rules.size() == 3);
  CHECK(p.seed == 7);
  CHECK(p.seed_given);
  CHECK(p.rules[0].cls == CallClass::recv);
  CHECK(p.rules[0].fault == Fault::partial);
  CHECK(p.rules[0].max == 1);
  CHECK(p.rules[1].cls == CallClass::send);
  CHECK(p.rules[1].p == Approx(0.5));
  const auto& r = p.rules[2];
  CHECK(r.fault == Fault::eagain);
  CHECK(r.every == 2);
  CHECK(r.after == 3);
  CHECK(r.count == 4);
  CHECK(r.conn == 5);
  CHECK(r.index == 2);
  CHECK(r.text == "recv.eagain:every=2,after=3,count=4,conn=5");
  CHECK(p.has(CallClass::send));
  CHECK_FALSE(p.has(CallClass::accept));
}

TEST_CASE("every fault is accepted on every class the fault table allows", "[plan]") {
  auto text = GENERATE(as<std::string>{}, "recv.eagain:every=2", "send.eagain:p=0.5", "accept.eagain:count=1",
                       "recv.partial:max=3", "send.partial:max=3", "aio.partial:max=3,op=recv",
                       "uring.partial:max=3,op=send", "recv.eintr:every=3", "send.eintr:count=2",
                       "accept.eintr:every=2", "wait.eintr:every=5", "recv.reset:conn=2", "aio.reset:op=recv",
                       "uring.reset", "recv.eof:after=2", "aio.eof", "uring.eof:op=recv", "send.epipe:conn=1",
                       "wait.spurious:every=2,fd=conn", "wait.spurious:p=0.3,fd=listen,conn=1",
                       "accept.emfile:count=3", "accept.econnaborted:after=1");
  CAPTURE(text);
  Plan p;
  CHECK(parse_plan(text, p) == "");
  CHECK(p.rules.size() == 1);
}

TEST_CASE("count=inf makes a rule sticky and the default seed is 1", "[plan]") {
  Plan p;
  REQUIRE(parse_plan("recv.reset:count=inf", p) == "");
  CHECK(p.rules[0].count == iogate::kForever);
  CHECK(p.seed == 1);
  CHECK_FALSE(p.seed_given);
}

TEST_CASE("a bad plan is refused with one line naming the rule and the problem", "[plan]") {
  struct Bad {
    const char* plan;
    const char* says;
  };
  auto bad = GENERATE(values<Bad>({
      {"recv.eagian:every=2", "rule 1 'recv.eagian:every=2': unknown fault 'eagian' for recv"},
      {"rcv.eagain:every=2", "unknown call 'rcv' (known: recv, send, accept, wait, aio, uring)"},
      {"send.reset", "unknown fault 'reset' for send (known: eagain, partial, eintr, epipe)"},
      {"accept.partial:max=1", "unknown fault 'partial' for accept (known: eagain, eintr, emfile, econnaborted)"},
      {"wait.eagain:every=2", "unknown fault 'eagain' for wait (known: eintr, spurious)"},
      {"recv.spurious:every=2", "unknown fault 'spurious' for recv"},
      {"wait.spurious", "spurious on every call forever would starve any server"},
      {"accept.emfile", "emfile on every call forever"},
      {"recv.eintr", "eintr on every call forever"},
      {"recv.reset:fd=listen", "fd=listen never matches recv"},
      {"accept.emfile:count=2,fd=conn", "fd=conn never matches accept"},
      {"accept.econnaborted:conn=2", "conn=K does not apply to accept"},
      {"recv.reset:op=recv", "op= applies to aio and uring rules only"},
      {"aio.partial:max=1,op=accept", "op=accept: POSIX AIO has no accept"},
      {"uring.partial:max=1,op=accept", "no fault acts on accept operations yet"},
      {"uring.eof:op=send", "fault 'eof' acts on reads: use op=recv"},
      {"uring.partial:max=1,fd=conn", "fd= does not apply to uring"},
      {"wait.eintr:every=2,conn=1", "wait.eintr interrupts the whole wait"},
      {"wait.spurious:every=2,fd=sock", "bad value 'sock' for fd (listen or conn)"},
      {"uring.partial:max=1,op=write", "bad value 'write' for op (recv, send or accept)"},
      {"recv", "expected CALL.FAULT"},
      {"recv.partial", "fault 'partial' needs max=N"},
      {"recv.partial:max=0", "bad value '0' for max"},
      {"recv.partial:max=x", "bad value 'x' for max"},
      {"recv.eagain:max=3,every=2", "key 'max' does not apply to fault 'eagain'"},
      {"recv.eagain:every=0", "bad value '0' for every"},
      {"recv.eagain:every=2,every=3", "key 'every' given twice"},
      {"recv.eagain:p=0", "bad value '0' for p (a probability in (0, 1])"},
      {"recv.eagain:p=1.5", "bad value '1.5' for p"},
      {"recv.eagain:p=nan", "bad value 'nan' for p"},
      {"recv.eagain:count=0", "bad value '0' for count"},
      {"recv.eagain:conn=0,every=2", "bad value '0' for conn"},
      {"recv.eagain:bogus=1", "unknown key 'bogus' (known: max, every, after, count, p, conn, fd, op)"},
      {"recv.eagain:every", "'every' is not key=value"},
      {"recv.eagain:every=2,", "empty key=value"},
      {"recv.eagain", "eagain on every call forever would starve any server"},
      {"recv.eagain:after=4", "eagain on every call forever"},
      {"recv.partial:max=1;seed=x", "item 2 'seed=x': seed must be an unsigned integer"},
      {"seed=1;seed=2", "item 2 'seed=2': seed given twice"},
      {"recv.partial:max=1;robust=maybe", "item 2 'robust=maybe': robust must be on or off"},
      {"robust=", "item 1 'robust=': robust must be on or off"},
      {"robust=OFF", "robust must be on or off"},
      {"robust=off;robust=on", "item 2 'robust=on': robust given twice"},
      {"recv.partial:max=99999999999999999999", "bad value"},
  }));
  CAPTURE(bad.plan);
  Plan p;
  std::string err = parse_plan(bad.plan, p);
  CHECK_THAT(err, Catch::Contains(bad.says));
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("robust=on|off is a plan-wide item; robustness faults are on by default", "[plan]") {
  Plan p;
  REQUIRE(parse_plan("send.partial:max=7", p) == "");
  CHECK(p.robust);
  CHECK_FALSE(p.robust_given);
  REQUIRE(parse_plan("send.partial:max=7; robust=off ;seed=3", p) == "");
  CHECK_FALSE(p.robust);
  CHECK(p.robust_given);
  CHECK(p.rules.size() == 1);
  CHECK(p.seed == 3);
  REQUIRE(parse_plan("robust=on", p) == "");
  CHECK(p.robust);
  CHECK(p.rules.empty());
}

TEST_CASE("more than 16 rules are refused", "[plan]") {
  std::string text;
  for (int i = 0; i < 17; ++i) text += "recv.partial:max=1;";
  Plan p;
  CHECK_THAT(parse_plan(text, p), Catch::Contains("at most 16 rules"));
}

TEST_CASE("100,000 random plans never crash the parser and always get one line or success", "[plan][fuzz]") {
  static const char* kPieces[] = {"recv", "send", "accept", "wait", "aio", "uring", ".", "eagain", "partial",
                                  "reset", "eof", "epipe", "eintr", "spurious", "emfile", "econnaborted", ":",
                                  "max=", "every=", "after=", "count=", "p=", "conn=", "fd=", "op=", "seed=",
                                  "listen", "conn", "inf", ",", ";", "=", "0", "1", "7", "0.5", "-1", "1e9",
                                  " ", "\n", "\xff", "..", "::", "99999999999999999999"};
  std::mt19937_64 rng(20261127);
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string text;
    const int n = static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) text += kPieces[rng() % (sizeof kPieces / sizeof *kPieces)];
    Plan p;
    std::string err = parse_plan(text, p);
    if (err.empty()) ++accepted;
    else if (err.find('\n') != std::string::npos) FAIL("two lines for: " << text);
  }
  CHECK(accepted > 0);  // the generator also makes valid plans
}

TEST_CASE("100,000 mutations of valid plans never crash the parser", "[plan][fuzz]") {
  static const char* kValid[] = {"recv.partial:max=1;send.partial:max=2,p=0.5;recv.eagain:every=2;seed=7",
                                 "wait.spurious:every=2,fd=conn,conn=3;accept.emfile:count=3",
                                 "uring.partial:max=4,op=recv;aio.eof:op=recv,after=2", "send.epipe:conn=1"};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    std::string text = kValid[rng() % 4];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = static_cast<char>(rng() % 256); break;          // flip
        case 1: text.erase(at, 1 + rng() % 3); break;                      // delete
        default: text.insert(at, 1, static_cast<char>(rng() % 256)); break;  // insert
      }
    }
    Plan p;
    std::string err = parse_plan(text, p);
    if (!err.empty() && err.find('\n') != std::string::npos) FAIL("two lines for: " << text);
  }
  SUCCEED("no crash, every refusal one line");
}
