#include "plan.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace iogate {

namespace {
struct ClassRow { CallClass id; const char* name; };
constexpr ClassRow kClasses[] = {
#define IOGATE_CLASS(id, name, doc) {CallClass::id, name},
#include "faults.def"
};

struct FaultRow { Fault id; const char* name; unsigned classes; bool needs_max; bool stalls; const char* doc; };
constexpr FaultRow kFaults[] = {
#define IOGATE_FAULT(id, name, classes, needs_max, stalls, seen, doc) \
  {Fault::id, name, classes, needs_max != 0, stalls != 0, doc},
#include "faults.def"
};

}  // namespace

const char* class_name(CallClass c) { return kClasses[static_cast<unsigned>(c)].name; }
// kFaults holds the faults of faults.def in enum order, after `pass`.
const FaultRow& row_of(Fault f) { return kFaults[static_cast<unsigned>(f) - 1]; }
const char* fault_name(Fault f) { return f == Fault::pass ? "pass" : row_of(f).name; }

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool parse_prob(std::string_view s, double& out) {
  if (s.empty() || s.size() > 32) return false;
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(buf.c_str(), &end);
  if (errno != 0 || end != buf.c_str() + buf.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string known_classes() {
  std::string s;
  for (const auto& c : kClasses) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s;
}

std::string known_faults(CallClass cls) {
  std::string s;
  for (const auto& f : kFaults)
    if (f.classes & (1u << static_cast<unsigned>(cls))) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s.empty() ? "none yet" : s;
}

// Parses one "key=value" of a rule; returns "" or the problem.
std::string parse_key(std::string_view kv, const FaultRow& f, Rule& r, unsigned& seen) {
  auto eq = kv.find('=');
  if (eq == std::string_view::npos) return "'" + std::string(kv) + "' is not key=value";
  std::string_view key = trim(kv.substr(0, eq)), val = trim(kv.substr(eq + 1));
  unsigned bit = 0;
  std::string known;
  for (unsigned i = 0; i < kRuleKeyCount; ++i) {
    if (key == kRuleKeys[i]) bit = 1u << i;
    known += (i ? ", " : "") + std::string(kRuleKeys[i]);
  }
  if (!bit) return "unknown key '" + std::string(key) + "' (known: " + known + ")";
  if (seen & bit) return "key '" + std::string(key) + "' given twice";
  seen |= bit;
  const std::string bad = "bad value '" + std::string(val) + "' for " + std::string(key);
  uint64_t n = 0;
  if (key == "max") {
    if (!f.needs_max) return "key 'max' does not apply to fault '" + std::string(f.name) + "'";
    if (!parse_u64(val, n) || n == 0) return bad + " (a byte count >= 1)";
    r.max = n;
  } else if (key == "every") {
    if (!parse_u64(val, n) || n == 0) return bad + " (an integer >= 1)";
    r.every = n;
  } else if (key == "after") {
    if (!parse_u64(val, n)) return bad + " (an integer >= 0)";
    r.after = n;
  } else if (key == "count") {
    if (val == "inf") {
      r.count = kForever;
    } else {
      if (!parse_u64(val, n) || n == 0) return bad + " (an integer >= 1 or inf)";
      r.count = n;
    }
  } else if (key == "p") {
    double p = 0;
    if (!parse_prob(val, p) || !(p > 0.0) || p > 1.0) return bad + " (a probability in (0, 1])";
    r.p = p;
  } else if (key == "conn") {
    if (!parse_u64(val, n) || n == 0) return bad + " (the K-th accepted connection, K >= 1)";
    r.conn = n;
  } else if (key == "fd") {
    if (val == "listen") r.fd = FdRole::listen;
    else if (val == "conn") r.fd = FdRole::conn;
    else return bad + " (listen or conn)";
  } else {  // op
    if (val == "recv") r.op = Op::recv;
    else if (val == "send") r.op = Op::send;
    else if (val == "accept") r.op = Op::accept;
    else return bad + " (recv, send or accept)";
  }
  return "";
}

// Combinations every key accepts on its own but that can never fire, or that
// make no sense for the class: refused at load, not silently ignored.
std::string check_combination(const Rule& r) {
  const bool io = r.cls == CallClass::recv || r.cls == CallClass::send;
  if (io && r.fd == FdRole::listen) return "fd=listen never matches " + std::string(class_name(r.cls)) +
                                           " (a listening socket is not read or written)";
  if (r.cls == CallClass::accept && r.fd == FdRole::conn) return "fd=conn never matches accept (it acts on the listener)";
  if (r.cls == CallClass::accept && r.conn != 0) return "conn=K does not apply to accept (use every/after/count)";
  const bool async = r.cls == CallClass::aio || r.cls == CallClass::uring;
  if (r.op != Op::any && !async) return "op= applies to aio and uring rules only";
  if (r.cls == CallClass::aio && r.op == Op::accept) return "op=accept: POSIX AIO has no accept";
  if (r.fd != FdRole::any && async) return "fd= does not apply to " + std::string(class_name(r.cls)) + " (use op=)";
  if (async && r.op == Op::accept) return "no fault acts on accept operations yet: use op=recv or op=send";
  if (async && r.op == Op::send && (r.fault == Fault::reset || r.fault == Fault::eof))
    return "fault '" + std::string(fault_name(r.fault)) + "' acts on reads: use op=recv (or no op)";
  if (r.cls == CallClass::wait && r.fault == Fault::eintr && (r.fd != FdRole::any || r.conn != 0))
    return "wait.eintr interrupts the whole wait: fd= and conn= do not apply";
  return "";
}

std::string parse_rule(std::string_view text, Rule& r) {
  auto colon = text.find(':');
  std::string_view head = trim(text.substr(0, colon));
  auto dot = head.find('.');
  if (dot == std::string_view::npos) return "expected CALL.FAULT (e.g. recv.eagain)";
  std::string_view cname = head.substr(0, dot), fname = head.substr(dot + 1);
  const ClassRow* cls = nullptr;
  for (const auto& c : kClasses)
    if (cname == c.name) cls = &c;
  if (!cls) return "unknown call '" + std::string(cname) + "' (known: " + known_classes() + ")";
  const FaultRow* fault = nullptr;
  for (const auto& f : kFaults)
    if (fname == f.name) fault = &f;
  if (!fault || !(fault->classes & (1u << static_cast<unsigned>(cls->id))))
    return "unknown fault '" + std::string(fname) + "' for " + cls->name + " (known: " + known_faults(cls->id) + ")";
  r.cls = cls->id;
  r.fault = fault->id;
  unsigned seen = 0;
  if (colon != std::string_view::npos) {
    std::string_view rest = text.substr(colon + 1);
    while (true) {
      auto comma = rest.find(',');
      std::string_view kv = trim(rest.substr(0, comma));
      if (kv.empty()) return "empty key=value";
      std::string err = parse_key(kv, *fault, r, seen);
      if (!err.empty()) return err;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (fault->needs_max && r.max == 0) return "fault '" + std::string(fault->name) + "' needs max=N (bytes per call)";
  // A fault that moves nothing, on every call forever, starves any correct
  // server: recv.eagain with p=1 and no every/count is "the data never comes".
  if (fault->stalls && r.every < 2 && r.count == kForever && r.p >= 1.0)
    return std::string(fault->name) + " on every call forever would starve any server: give every=N (N >= 2), "
           "count=N or p below 1";
  return check_combination(r);
}

}  // namespace


const char* fault_doc(Fault f) { return f == Fault::pass ? "" : row_of(f).doc; }
unsigned fault_classes(Fault f) { return f == Fault::pass ? 0 : row_of(f).classes; }

bool Plan::has(CallClass c) const {
  for (const auto& r : rules)
    if (r.cls == c) return true;
  return false;
}

namespace {
// A message quotes the user's text: make it one printable line.
std::string one_line(const std::string& msg) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : msg) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}
}  // namespace

static std::string parse_plan_items(std::string_view text, Plan& out) {
  Plan plan;
  int item_no = 0;
  while (true) {
    auto semi = text.find(';');
    std::string_view item = trim(text.substr(0, semi));
    if (!item.empty()) {
      ++item_no;
      if (item.substr(0, 5) == "seed=") {
        if (plan.seed_given) return "item " + std::to_string(item_no) + " '" + std::string(item) + "': seed given twice";
        if (!parse_u64(trim(item.substr(5)), plan.seed))
          return "item " + std::to_string(item_no) + " '" + std::string(item) + "': seed must be an unsigned integer";
        plan.seed_given = true;
      } else if (item.substr(0, 7) == "robust=") {
        const std::string head = "item " + std::to_string(item_no) + " '" + std::string(item) + "': ";
        if (plan.robust_given) return head + "robust given twice";
        const std::string_view v = trim(item.substr(7));
        if (v != "on" && v != "off") return head + "robust must be on or off";
        plan.robust = v == "on";
        plan.robust_given = true;
      } else {
        if (plan.rules.size() >= static_cast<size_t>(kMaxRules))
          return "item " + std::to_string(item_no) + ": at most " + std::to_string(kMaxRules) + " rules";
        Rule r;
        r.index = static_cast<int>(plan.rules.size());
        r.text = std::string(item);
        std::string err = parse_rule(item, r);
        if (!err.empty()) return "rule " + std::to_string(item_no) + " '" + std::string(item) + "': " + err;
        plan.rules.push_back(std::move(r));
      }
    }
    if (semi == std::string_view::npos) break;
    text = text.substr(semi + 1);
  }
  out = std::move(plan);
  return "";
}

std::string parse_plan(std::string_view text, Plan& out) {
  std::string err = parse_plan_items(text, out);
  return err.empty() ? err : one_line(err);
}

}  // namespace iogate
