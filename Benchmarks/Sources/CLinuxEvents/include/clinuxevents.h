// epoll and timerfd for serve-bench's load client: Swift's Glibc module does not export <sys/epoll.h> or
// <sys/timerfd.h>. Headers only; nothing to link.
#include <sys/epoll.h>
#include <sys/timerfd.h>
