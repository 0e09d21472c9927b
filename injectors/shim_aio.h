// The POSIX AIO state the preload shim's AIO wrappers share (shim_async.cc
// submits and reports requests, shim_suspend.cc waits for them): the
// requests whose aio_nbytes a `partial` fault lowered.
#pragma once

#include <aio.h>

namespace iogate {

// Gives every listed request that is no longer in progress back the length
// its application asked for, so a completed aiocb never shows the shim's
// (aio_error and aio_return do the same for their one request).
void restore_completed(const struct aiocb* const list[], int nitems);

}  // namespace iogate
