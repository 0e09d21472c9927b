#include "shared.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace iogate {

namespace {

// Open addressing over kSlots slots, probed kProbe at a time from the hash of
// the identity; a full window gives up its oldest (lowest) ordinal. A slot is
// written as conn := kBusy (claimed by CAS), dev, ino, conn := ordinal; a
// reader accepts (dev, ino) only if conn read the same non-busy value before
// and after (ordinals in a slot only grow, so there is no ABA).
constexpr uint32_t kSlots = 4096;
constexpr uint32_t kProbe = 16;
constexpr uint32_t kBusy = UINT32_MAX;

struct Slot {
  std::atomic<uint64_t> dev;
  std::atomic<uint64_t> ino;
  std::atomic<uint32_t> conn;  // 0: empty
  uint32_t pad;
};

struct Region {
  std::atomic<uint32_t> accepts;  // connections accepted so far by every process
  uint32_t pad;
  std::atomic<uint64_t> accept_calls;               // accept calls so far by every process
  std::atomic<uint32_t> accept_fired[kMaxRules];    // accept rules fired so far by every process
  Slot slots[kSlots];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "the shared region needs address-free atomics");

Region g_fallback;  // the last resort: this process only
Region* g_region = &g_fallback;
std::string* g_where;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint32_t home(uint64_t dev, uint64_t ino) { return static_cast<uint32_t>(mix(dev ^ mix(ino)) % kSlots); }

Region* map_anonymous() {
  void* p = mmap(nullptr, sizeof(Region), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<Region*>(p);
}

Region* map_file(const char* path, std::string& why) {
  const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    why = std::string("cannot open ") + path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  // Growing is idempotent: a second creator racing the first extends it to the same zeroes.
  if (fstat(fd, &st) != 0 || (st.st_size < static_cast<off_t>(sizeof(Region)) &&
                              ftruncate(fd, static_cast<off_t>(sizeof(Region))) != 0)) {
    why = std::string("cannot size ") + path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, sizeof(Region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    why = std::string("cannot map ") + path + ": " + std::strerror(e);
    return nullptr;
  }
  return static_cast<Region*>(p);
}

void put(uint64_t dev, uint64_t ino, uint32_t conn) {
  const uint32_t h = home(dev, ino);
  for (int attempt = 0; attempt < 8; ++attempt) {
    Slot* victim = nullptr;
    uint32_t seen = 0;
    for (uint32_t i = 0; i < kProbe; ++i) {
      Slot& s = g_region->slots[(h + i) % kSlots];
      const uint32_t c = s.conn.load();
      if (c == kBusy) continue;
      if (!victim || c < seen) {
        victim = &s;
        seen = c;
      }
      if (c == 0) break;
    }
    if (!victim) return;  // every slot of the window is being written right now
    if (!victim->conn.compare_exchange_strong(seen, kBusy)) continue;
    victim->dev.store(dev);
    victim->ino.store(ino);
    victim->conn.store(conn);
    return;
  }
}

}  // namespace

void shared_open() {
  const char* path = std::getenv("IOGATE_SHARED");
  std::string why;
  Region* r = nullptr;
  if (path && *path) {
    r = map_file(path, why);
    if (r) g_where = new std::string(path);
  }
  if (!r) {
    r = map_anonymous();
    g_where = new std::string(why.empty() ? "private" : "private: " + why);
  }
  if (r) g_region = r;
}

const char* shared_where() { return g_where ? g_where->c_str() : "private"; }

uint32_t shared_next_conn(int fd) {
  const uint32_t conn = g_region->accepts.fetch_add(1) + 1;
  struct stat st;
  const int e = errno;
  if (fd >= 0 && fstat(fd, &st) == 0) put(st.st_dev, st.st_ino, conn);
  errno = e;
  return conn;
}

uint64_t shared_next_accept_call() { return g_region->accept_calls.fetch_add(1) + 1; }

std::atomic<uint32_t>* shared_accept_fired() { return g_region->accept_fired; }

uint32_t shared_conn_of(dev_t dev, ino_t ino) {
  const uint32_t h = home(dev, ino);
  uint32_t best = 0;
  for (uint32_t i = 0; i < kProbe; ++i) {
    Slot& s = g_region->slots[(h + i) % kSlots];
    const uint32_t c1 = s.conn.load();
    if (c1 == 0 || c1 == kBusy) continue;
    const bool same = s.dev.load() == static_cast<uint64_t>(dev) && s.ino.load() == static_cast<uint64_t>(ino);
    if (same && s.conn.load() == c1 && c1 > best) best = c1;
  }
  return best;
}

}  // namespace iogate
