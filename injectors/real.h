// The real libc functions behind the wrappers, resolved once with
// dlsym(RTLD_NEXT) on first use (thread-safe static init). The shim calls
// these, never the wrapped names, for its own work, so it never faults or
// traces itself.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

namespace iogate {

[[noreturn]] void die_unresolved(const char* name);

template <typename Fn>
Fn resolve_real(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p) die_unresolved(name);
  return reinterpret_cast<Fn>(p);
}

}  // namespace iogate

#define IOGATE_REAL(name)                                                                \
  ([]() {                                                                                \
    static const auto fn = ::iogate::resolve_real<decltype(&::name)>(#name);            \
    return fn;                                                                           \
  }())
