// iogate-tables FILE: the shim's own tables as JSON, written atomically to
// FILE at build time (build/tables.json). Everything outside C++ that names
// a call class, a fault, a robustness rule, a traced call or a plan key (the
// Python judge, the docs generator, the call-matrix tests) reads that file:
// faults.def and calls.def stay the one place those tables are written.
#include <cstdio>
#include <string>

#include <sys/epoll.h>

#include "legality.h"
#include "plan.h"

namespace {

std::string quoted(const char* s) {
  std::string out = "\"";
  for (const char* p = s; *p; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string class_list(unsigned mask) {
  std::string out = "[";
  for (int i = 0; i < iogate::kCallClasses; ++i)
    if (mask & (1u << i))
      out += (out.size() > 1 ? "," : "") + quoted(iogate::class_name(static_cast<iogate::CallClass>(i)));
  return out + "]";
}

std::string bit_list(unsigned mask) {
  std::string out = "[";
  for (unsigned i = 0; iogate::state_bit_name(i); ++i)
    if (mask & (1u << i)) out += (out.size() > 1 ? "," : "") + quoted(iogate::state_bit_name(i));
  return out + "]";
}

std::string tables() {
  using iogate::Action;
  using iogate::CallClass;
  using iogate::Op;
  std::string j = "{\n \"classes\": [";
  const char* sep = "\n  ";
#define IOGATE_CLASS(id, name, doc) \
  j += sep + std::string("{\"name\":") + quoted(name) + ",\"doc\":" + quoted(doc) + "}"; sep = ",\n  ";
#include "faults.def"
  j += "],\n \"faults\": [";
  sep = "\n  ";
#define IOGATE_FAULT(id, name, classes, needs_max, stalls, seen, doc)                                   \
  j += sep + std::string("{\"name\":") + quoted(name) + ",\"classes\":" + class_list(classes) +             \
       ",\"needs_max\":" + (needs_max ? "true" : "false") + ",\"stalls\":" + (stalls ? "true" : "false") + \
       ",\"seen\":" + quoted(seen) + ",\"doc\":" + quoted(doc) + "}";                                    \
  sep = ",\n  ";
#include "faults.def"
  j += "],\n \"robust\": [";
  sep = "\n  ";
#define IOGATE_ROBUST(id, classes, action, op, needs, forbids, reason)                                            \
  j += sep + std::string("{\"id\":") + quoted(#id) + ",\"classes\":" + class_list(classes) + ",\"action\":" +      \
       quoted(iogate::fault_name(Action::action)) + ",\"op\":" + quoted(#op) + ",\"needs\":" + bit_list(needs) + \
       ",\"forbids\":" + bit_list(forbids) + ",\"reason\":" + quoted(reason) + "}";                                \
  sep = ",\n  ";
#include "faults.def"
  j += "],\n \"calls\": [";
  sep = "\n  ";
#define IOGATE_IO(name, cls, params, len_expr, call_expr, flags_expr, dir)                               \
  j += sep + std::string("{\"name\":") + quoted(#name) + ",\"class\":" + quoted(#cls) +                  \
       ",\"mechanism\":null,\"generated\":true,\"faulted\":true}";                                  \
  sep = ",\n  ";
#define IOGATE_HAND(name, cls, mechanism, faulted)                                                        \
  j += sep + std::string("{\"name\":") + quoted(#name) + ",\"class\":" + quoted(#cls) + ",\"mechanism\":" + \
       (std::string(#mechanism) == "none" ? std::string("null") : quoted(#mechanism)) +                        \
       ",\"generated\":false,\"faulted\":" + (faulted ? "true" : "false") + "}";                             \
  sep = ",\n  ";
#include "calls.def"
  j += "],\n \"rule_keys\": [";
  for (unsigned i = 0; i < iogate::kRuleKeyCount; ++i) j += (i ? "," : "") + quoted(iogate::kRuleKeys[i]);
  j += "],\n \"plan_items\": [";
  for (unsigned i = 0; i < sizeof iogate::kPlanItems / sizeof iogate::kPlanItems[0]; ++i)
    j += (i ? "," : "") + quoted(iogate::kPlanItems[i]);
  j += "],\n \"state_bits\": " + bit_list(~0u) + "\n}\n";
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: iogate-tables FILE\n");
    return 2;
  }
  const std::string tmp = std::string(argv[1]) + ".part";
  FILE* f = std::fopen(tmp.c_str(), "w");
  const std::string text = tables();
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0 ||
      std::rename(tmp.c_str(), argv[1]) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  return 0;
}
