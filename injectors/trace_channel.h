// The trace channel: the one descriptor the shim keeps in the program's fd
// table, sealed so that the program can neither close it nor have its number
// for one of its own files (docs/trace.md, "The sealed channel"):
//  - it lives at a high number (just below min(RLIMIT_NOFILE, 1024)), out of
//    the way of the lowest-free-number rule of open/socket/accept;
//  - the program's close(), close_range(), closefrom() skip it and its dup2()
//    or dup3() onto that number moves the channel first (shim_accept.cc);
//  - before every record the channel is checked to still be the trace file
//    (fstat: device and inode) and reopened if a raw syscall replaced it.
#pragma once

namespace iogate {

// Opens the trace file at a high number; false (errno set) when it cannot.
bool channel_open(const char* path);
bool channel_on();

// The channel's fd, verified to be the trace file, reopened if it was not;
// -1 when not tracing or when the file cannot be reopened.
int channel_fd();

// fd is the channel's current number.
bool channel_owns(int fd);

// The program is about to take number fd (dup2/dup3 onto it): if the channel
// is there it moves to another high number first. Returns the number it left
// (still open until the program's call replaces it; close it if that call
// fails) or -1 if it did not move.
int channel_vacate(int fd);

}  // namespace iogate
