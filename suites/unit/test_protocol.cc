// The IO-free protocol core: the output must not depend on how the input
// stream is cut into reads (recv(2) returns "any data available, up to the
// requested amount"), for every 2-way and 3-way split and random splits.
#include <catch2/catch.hpp>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "protocol.h"

using iogate::Protocol;
using iogate::Session;
using namespace std::string_literals;

namespace {

struct Row {
  std::string input;
  std::string seq_reply;  // the echo reply is the input itself
};

// Inputs whose frames cross every possible read boundary.
const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      {"^abc$de^abte$f", "bcdbcuf"},   // DESIGN.md example
      {"x^abc$y^z$", "bcd{"},          // catalogue C04 probe
      {"", ""},                        // nothing in, nothing out
      {"abc$$d$", ""},                 // '$' outside a frame is ignored
      {"^^a^$", "_b_"},                // '^' inside a frame is data: '^'+1 == '_'
      {"^$^$^$", ""},                  // empty frames
      {"^abc", "bcd"},                 // frame never closed: replies still due
      {"\xff^\xff\xfe$\xff"s, "\x00\xff"s},  // 0xff wraps to 0x00 inside a frame only
      {"^\x7f\x80$"s, "\x80\x81"s},    // high bit bytes
      {"^a\0b$\0^\0$"s, "b\x01"s "c\x01"s},  // NUL is an ordinary byte
      {"$^$^a$$^b", "bc"},
  };
  return table;
}

std::string reply(Protocol p, const std::vector<std::string>& pieces) {
  Session s(p);
  std::string out;
  for (const auto& piece : pieces) s.feed(piece.data(), piece.size(), out);
  return out;
}

std::string expected(Protocol p, const Row& row) {
  return p == Protocol::seq ? row.seq_reply : row.input;
}

}  // namespace

TEST_CASE("one call with the whole input gives the documented reply", "[core]") {
  const Protocol p = GENERATE(Protocol::seq, Protocol::echo);
  const Row& row = GENERATE(from_range(rows()));
  CAPTURE(iogate::protocol_name(p), row.input);
  CHECK(reply(p, {row.input}) == expected(p, row));
}

TEST_CASE("every 2-way split of the input gives the one-shot reply", "[core]") {
  const Protocol p = GENERATE(Protocol::seq, Protocol::echo);
  const Row& row = GENERATE(from_range(rows()));
  const std::string& in = row.input;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    CAPTURE(iogate::protocol_name(p), in, i);
    CHECK(reply(p, {in.substr(0, i), in.substr(i)}) == expected(p, row));
  }
}

TEST_CASE("every 3-way split of the input gives the one-shot reply", "[core]") {
  const Protocol p = GENERATE(Protocol::seq, Protocol::echo);
  const Row& row = GENERATE(from_range(rows()));
  const std::string& in = row.input;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    for (std::size_t j = i; j <= in.size(); ++j) {
      CAPTURE(iogate::protocol_name(p), in, i, j);
      CHECK(reply(p, {in.substr(0, i), in.substr(i, j - i), in.substr(j)}) == expected(p, row));
    }
  }
}

TEST_CASE("one byte per read gives the one-shot reply", "[core]") {
  const Protocol p = GENERATE(Protocol::seq, Protocol::echo);
  const Row& row = GENERATE(from_range(rows()));
  std::vector<std::string> bytes;
  for (char b : row.input) bytes.emplace_back(1, b);
  CAPTURE(iogate::protocol_name(p), row.input);
  CHECK(reply(p, bytes) == expected(p, row));
}

TEST_CASE("random splits of a long random stream give the one-shot reply", "[core]") {
  const Protocol p = GENERATE(Protocol::seq, Protocol::echo);
  const unsigned seed = GENERATE(range(1u, 41u));
  CAPTURE(iogate::protocol_name(p), seed);
  std::mt19937 rng(seed);
  // Mostly frame markers and letters, some arbitrary bytes, so frames open
  // and close often and cross many boundaries.
  const std::string alphabet = "^$^$abcz\xff\x7f"s + "\0"s;
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::string in(1 + rng() % 4000, '\0');
  for (char& b : in) b = (rng() % 8 == 0) ? static_cast<char>(any_byte(rng)) : alphabet[pick(rng)];

  const std::string whole = reply(p, {in});
  std::vector<std::string> pieces;
  for (std::size_t at = 0; at < in.size();) {
    std::size_t len = rng() % 9 == 0 ? rng() % 700 : rng() % 5;  // many tiny, a few large
    pieces.push_back(in.substr(at, len));
    at += pieces.back().size();
  }
  CHECK(reply(p, pieces) == whole);
  if (p == Protocol::echo) CHECK(whole == in);
}

TEST_CASE("a seq session greets with one star and an echo session with nothing", "[core]") {
  CHECK(Session(Protocol::seq).greeting() == "*");
  CHECK(Session(Protocol::echo).greeting().empty());
}

TEST_CASE("a fresh seq session starts outside a frame", "[core]") {
  CHECK(reply(Protocol::seq, {"abc"}) == "");
  CHECK(reply(Protocol::seq, {"abc^d$"}) == "e");
}

TEST_CASE("replies are appended to the caller's buffer, never replacing it", "[core]") {
  Session s(Protocol::seq);
  std::string out = "kept";
  s.feed("^a$", 3, out);
  CHECK(out == "keptb");
}

TEST_CASE("protocol names map both ways and unknown names are refused", "[core]") {
  CHECK(iogate::protocol_from_name("seq") == Protocol::seq);
  CHECK(iogate::protocol_from_name("echo") == Protocol::echo);
  CHECK_FALSE(iogate::protocol_from_name("SEQ").has_value());
  CHECK_FALSE(iogate::protocol_from_name("").has_value());
  CHECK_FALSE(iogate::protocol_from_name("echo ").has_value());
  CHECK(std::string(iogate::protocol_name(Protocol::seq)) == "seq");
  CHECK(std::string(iogate::protocol_name(Protocol::echo)) == "echo");
}
