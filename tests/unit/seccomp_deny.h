/* A kernel without a socket option, for tests: a seccomp filter that makes
 * setsockopt(fd, level, optname, ...) fail with an errno (ENOPROTOOPT is
 * how a kernel answers an option it does not have) and lets every other
 * system call through.  The filter lasts for the life of the process and
 * its children: install it only in a forked child.  x86-64 and aarch64;
 * elsewhere (and where seccomp is not allowed) it returns -ENOTSUP, and
 * the test skips. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define IOV_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define IOV_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* 0, or -errno (-ENOTSUP: no filter for this architecture). */
static inline int seccomp_deny_setsockopt(int level, int optname, int err) {
#ifdef IOV_TEST_AUDIT_ARCH
  struct sock_filter f[] = {
    /* Another architecture's system call numbers mean other calls: let
     * them be (nothing here makes such calls). */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IOV_TEST_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setsockopt, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    /* args[1] and args[2] are ints: their low 32 bits (little-endian). */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)level, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)optname, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = { .len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) return -errno;
  return 0;
#else
  (void)level;
  (void)optname;
  (void)err;
  return -ENOTSUP;
#endif
}
