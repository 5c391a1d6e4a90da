// Shim for liburing. Exists because Swift imports a C library only through a module map.
// Include libc headers *before* <liburing.h>: liburing.h defines _XOPEN_SOURCE, and a libc header first
// parsed under different feature macros than SwiftGlibc gives conflicting definitions (fd_set) when both
// modules are imported. No shim changes feature macros.
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
// The epoll fallback loop lives next to the io_uring one and imports epoll through this shim (SwiftGlibc
// does not export <sys/epoll.h>).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <liburing.h>

// IOSQE_IO_LINK is a compound macro and is not imported by Swift; remove when Swift imports it.
static inline unsigned cliburing_sqe_flag_io_link(void) { return IOSQE_IO_LINK; }

// Names the calling thread (at most 15 bytes are kept) for top -H, perf and debuggers. prctl is variadic,
// which Swift cannot call, and pthread_setname_np needs _GNU_SOURCE.
static inline int cliburing_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

// ABI assumptions the Swift side relies on, checked by the C compiler.
_Static_assert(sizeof(struct io_uring_sqe) == 64, "SQE layout changed");
