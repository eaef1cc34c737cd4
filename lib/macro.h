/* Small language helpers shared by every module: attributes, cleanup
 * variables and container_of.  Header only. */
#pragma once

#include <stddef.h>
#include <stdlib.h>

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Take ownership of a pointer held by a _cleanup_ variable. */
#define TAKE_PTR(p)           \
  ({                          \
    __typeof__(p) _tp_ = (p); \
    (p) = NULL;               \
    _tp_;                     \
  })

static inline void iov__freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(iov__freep)

#define IOV_CACHELINE 64

#define IOV_NSEC_PER_SEC 1000000000ULL
#define IOV_NSEC_PER_MSEC 1000000ULL
#define IOV_NSEC_PER_USEC 1000ULL
