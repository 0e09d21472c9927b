// The schedule: a pure function of (seed, rule, connection, call index,
// times fired); selectors mean what docs/faults.md says.
#include <catch2/catch.hpp>

#include "plan.h"
#include "schedule.h"

using iogate::Rule;
using iogate::rule_fires;

namespace {
Rule rule_of(const char* text) {
  iogate::Plan p;
  REQUIRE(iogate::parse_plan(text, p) == "");
  return p.rules.at(0);
}
}  // namespace

TEST_CASE("every=N fires on the N-th, 2N-th, ... call of a connection", "[schedule]") {
  Rule r = rule_of("recv.eagain:every=3");
  for (uint64_t i = 1; i <= 12; ++i) {
    CAPTURE(i);
    CHECK(rule_fires(r, 1, 1, i, 0) == (i % 3 == 0));
  }
}

TEST_CASE("after=N skips the first N calls, then every counts from there", "[schedule]") {
  Rule r = rule_of("recv.partial:max=1,after=2,every=2");
  CHECK_FALSE(rule_fires(r, 1, 1, 1, 0));
  CHECK_FALSE(rule_fires(r, 1, 1, 2, 0));
  CHECK_FALSE(rule_fires(r, 1, 1, 3, 0));
  CHECK(rule_fires(r, 1, 1, 4, 0));
  CHECK(rule_fires(r, 1, 1, 6, 0));
}

TEST_CASE("count=N stops a rule after N injections on a connection", "[schedule]") {
  Rule r = rule_of("recv.eagain:count=2");
  CHECK(rule_fires(r, 1, 1, 1, 0));
  CHECK(rule_fires(r, 1, 1, 2, 1));
  CHECK_FALSE(rule_fires(r, 1, 1, 3, 2));
}

TEST_CASE("conn=K limits a rule to the K-th accepted connection", "[schedule]") {
  Rule r = rule_of("recv.reset:conn=2");
  CHECK_FALSE(rule_fires(r, 1, 1, 1, 0));
  CHECK(rule_fires(r, 1, 2, 1, 0));
  CHECK_FALSE(rule_fires(r, 1, 0, 1, 0));  // a socket the process did not accept
}

TEST_CASE("p=P decisions are a pure function of seed, rule, connection and call index", "[schedule]") {
  Rule r = rule_of("recv.eagain:p=0.25");
  const uint64_t seed = GENERATE(1, 7, 123456789);
  CAPTURE(seed);
  int fired = 0;
  for (uint64_t i = 1; i <= 100000; ++i) {
    const bool a = rule_fires(r, seed, 3, i, 0);
    CHECK(a == rule_fires(r, seed, 3, i, 0));
    fired += a;
  }
  CHECK(fired > 24000);
  CHECK(fired < 26000);
}

TEST_CASE("different seeds, rules or connections give different schedules", "[schedule]") {
  CHECK(iogate::schedule_hash(1, 0, 1, 1) != iogate::schedule_hash(2, 0, 1, 1));
  CHECK(iogate::schedule_hash(1, 0, 1, 1) != iogate::schedule_hash(1, 1, 1, 1));
  CHECK(iogate::schedule_hash(1, 0, 1, 1) != iogate::schedule_hash(1, 0, 2, 1));
  CHECK(iogate::schedule_hash(1, 0, 1, 1) != iogate::schedule_hash(1, 0, 1, 2));
}
