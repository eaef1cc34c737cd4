/* A real iovbench-agent with VMs (libvirt's test driver) refuses a
 * VmSetup beyond its caps on vCPUs and memory per VM, naming the cap, and
 * starts nothing: coord asks, the owner's caps decide.  Talks to the
 * agent over a real ZeroMQ socket (plaintext, a private ipc path), as
 * coord would. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"
#include "wire.h"

static char dir[PATH_MAX];
static pid_t agent;
static zsock_t *sock;

static int setup(void **state) {
  (void)state;
  const char *bin = getenv("IOV_AGENT");
  if (!bin) return -1;
  snprintf(dir, sizeof(dir), "/tmp/iovb-vmcaps.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  char ep[PATH_MAX + 16], gep[PATH_MAX + 16], ready[PATH_MAX + 16], xml[PATH_MAX + 16];
  snprintf(ep, sizeof(ep), "ipc://%s/a.sock", dir);
  snprintf(gep, sizeof(gep), "ipc://%s/g.sock", dir);
  snprintf(ready, sizeof(ready), "%s/ready", dir);
  snprintf(xml, sizeof(xml), "%s/xml", dir);
  if (mkdir(xml, 0700) < 0) return -1;
  char *argv[] = { (char *)bin,
                   "--listen",
                   ep,
                   "--guest-listen",
                   gep,
                   "--vm-guest-endpoint",
                   gep,
                   "--libvirt",
                   "test:///default",
                   "--virtio-bridge",
                   "br-test",
                   "--vm-xml-dir",
                   xml,
                   "--max-vcpus",
                   "2",
                   "--max-memory",
                   "1g",
                   "--max-vms",
                   "2",
                   "--plaintext",
                   "--key-listen",
                   "none",
                   "--name",
                   "a",
                   "--ready-file",
                   ready,
                   "--quiet",
                   NULL };
  agent = iov_spawn(argv, &(struct iov_spawn_opts){ .out_fd = IOV_SPAWN_INHERIT, .die_with_parent = true });
  if (agent < 0) return -1;
  for (int i = 0; i < 200 && access(ready, F_OK) < 0; i++) usleep(50000);
  sock = zsock_new(ZMQ_DEALER);
  iov_wire_sock_setup(sock);
  zsock_set_rcvtimeo(sock, 5000);
  return zsock_connect(sock, "%s", ep) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  zsock_destroy(&sock);
  if (agent > 0) iov_spawn_stop(agent, 3000);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static iov_envelope *ask(iov_envelope *e) {
  iov_envelope *in = NULL;
  char why[256];
  static uint64_t id;
  e->msg_id = ++id;
  assert_int_equal(iov_wire_send(sock, NULL, e), 0);
  for (;;) {
    zpoller_t *p = zpoller_new(sock, NULL);
    assert_ptr_equal(zpoller_wait(p, 5000), sock);
    zpoller_destroy(&p);
    assert_int_equal(iov_wire_recv(sock, NULL, &in, NULL, why, sizeof(why)), 0);
    if (in->reply_to == e->msg_id) return in;
    iov_wire_free(in);
  }
}

/* VmSetup of COUNT virtio VMs of VCPUS and MEMORY_MB each: its Error. */
static iov_envelope *vm_setup(uint32_t count, uint32_t vcpus, uint64_t memory_mb) {
  Iovbench__VmSetup v = IOVBENCH__VM_SETUP__INIT;
  v.point_id = 3;
  v.path = "virtio";
  v.count = count;
  v.vcpus = vcpus;
  v.memory_mb = memory_mb;
  v.run_id = "caps";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_VM_SETUP;
  e.vm_setup = &v;
  iov_envelope *in = ask(&e);
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_ERROR);
  return in;
}

static size_t files_in(const char *sub) {
  char cmd[PATH_MAX + 64], buf[32] = "";
  snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", dir, sub);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf, sizeof(buf), f));
  pclose(f);
  return (size_t)strtoul(buf, NULL, 10);
}

static void test_vm_caps(void **state) {
  (void)state;
  Iovbench__Hello h = IOVBENCH__HELLO__INIT;
  h.kind = IOVBENCH__PEER_KIND__PEER_COORD;
  h.identity = "a";
  h.run_id = "caps";
  h.version = "test";
  iov_envelope e = IOVBENCH__ENVELOPE__INIT;
  e.body_case = IOVBENCH__ENVELOPE__BODY_HELLO;
  e.hello = &h;
  iov_envelope *in = ask(&e);
  assert_int_equal(in->body_case, IOVBENCH__ENVELOPE__BODY_WELCOME);
  iov_wire_free(in);

  /* Over the vCPU cap: refused, naming it. */
  in = vm_setup(1, 3, 512);
  assert_int_equal(in->error->code, IOVBENCH__ERROR_CODE__ERR_LIMIT);
  assert_non_null(
      strstr(in->error->message, "refuses VMs of 3 vCPUs, over its cap of 2 per VM (--max-vcpus)"));
  iov_wire_free(in);
  /* Over the memory cap (1g = 1024 MiB). */
  in = vm_setup(1, 1, 1025);
  assert_int_equal(in->error->code, IOVBENCH__ERROR_CODE__ERR_LIMIT);
  assert_non_null(strstr(in->error->message,
                         "refuses VMs of 1025 MiB memory, over its cap of 1024 MiB per VM (--max-memory)"));
  iov_wire_free(in);
  /* The most the wire allows (16 TiB) is still over it. */
  in = vm_setup(1, 1, 1u << 24);
  assert_non_null(strstr(in->error->message, "(--max-memory)"));
  iov_wire_free(in);
  /* At the caps, vCPUs and memory pass: what stops these three VMs is the
   * next cap, on their number. */
  in = vm_setup(3, 2, 1024);
  assert_int_equal(in->error->code, IOVBENCH__ERROR_CODE__ERR_LIMIT);
  assert_null(strstr(in->error->message, "--max-vcpus"));
  assert_null(strstr(in->error->message, "--max-memory"));
  assert_non_null(strstr(in->error->message, "(--max-vms)"));
  iov_wire_free(in);
  /* Nothing was started: no domain XML was written. */
  assert_int_equal(files_in("xml"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_vm_caps, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
