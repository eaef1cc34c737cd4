/* Fuzz target: the plan parser (lib/plan.c), as `coord validate` and
 * `coord run` reach it: the input is written to a memfd and loaded by
 * path with iov_plan_load() (the file read, the size and NUL checks, inih,
 * the option table, sweeps and cross-key checks), with the engine names
 * of this build as the valid workloads.
 *
 * A plan that loads must be what plan.h promises: every point names
 * hosts of [hosts] and a known workload, and its values lie within the
 * documented ranges.  Its points are then turned into the JSON coord
 * stores with each point (coordinator/json.c), and every error must
 * format. */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "fuzz.h"
#include "json.h"
#include "plan.h"

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  iov_fuzz_quiet();
  memfd = memfd_create("fuzz-plan", MFD_CLOEXEC);
  if (memfd < 0) {
    perror("fuzz_plan: memfd_create");
    abort();
  }
  snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
  return 0;
}

static bool known_workload(const char *name) {
  for (const char *const *w = iov_engine_names(); *w; w++)
    if (strcmp(*w, name) == 0) return true;
  return false;
}

static void check_plan(const struct iov_plan *p) {
  IOV_FUZZ_CHECK(p->n_hosts >= 1 && p->n_hosts <= IOV_PLAN_MAX_HOSTS, "%zu hosts", p->n_hosts);
  IOV_FUZZ_CHECK(p->n_points >= 1 && p->n_points <= IOV_PLAN_MAX_POINTS, "%zu points", p->n_points);
  for (size_t i = 0; i < p->n_hosts; i++) {
    IOV_FUZZ_CHECK(p->hosts[i].name && p->hosts[i].endpoint, "host %zu without a name or endpoint", i);
    IOV_FUZZ_CHECK(iov_plan_host_find(p, p->hosts[i].name) == &p->hosts[i], "host '%s' not found by name",
                   p->hosts[i].name);
  }
  for (size_t i = 0; i < p->n_points; i++) {
    const struct iov_plan_point *pt = &p->points[i];
    const struct iov_point_params *q = &pt->p;
    IOV_FUZZ_CHECK(pt->index == i, "point %zu has index %u", i, pt->index);
    IOV_FUZZ_CHECK(q->workload && known_workload(q->workload), "point %zu: workload '%s'", i,
                   q->workload ? q->workload : "(null)");
    IOV_FUZZ_CHECK(q->sender && iov_plan_host_find(p, q->sender), "point %zu: sender not a host", i);
    IOV_FUZZ_CHECK(q->receiver && iov_plan_host_find(p, q->receiver), "point %zu: receiver not a host", i);
    IOV_FUZZ_CHECK(iov_topology_from_string(q->topology) >= 0, "point %zu: topology '%s'", i, q->topology);
    IOV_FUZZ_CHECK(iov_path_from_string(q->path) >= 0, "point %zu: path '%s'", i, q->path);
    IOV_FUZZ_CHECK(q->vms >= 1 && q->vms <= 1024, "point %zu: vms %llu", i, (unsigned long long)q->vms);
    IOV_FUZZ_CHECK(q->flows >= 1 && q->flows <= 256, "point %zu: flows %llu", i,
                   (unsigned long long)q->flows);
    IOV_FUZZ_CHECK(q->msg_size >= 1 && q->msg_size <= 16u << 20, "point %zu: msg_size %llu", i,
                   (unsigned long long)q->msg_size);
    IOV_FUZZ_CHECK(q->response_size >= 1 && q->response_size <= 16u << 20, "point %zu: response_size %llu", i,
                   (unsigned long long)q->response_size);
    /* Every setting of the point's engine, each in its range. */
    const struct iov_engine_ops *ops = iov_engine_find(q->workload);
    size_t n_opts = 0;
    while (ops->options && ops->options[n_opts].name) n_opts++;
    IOV_FUZZ_CHECK(q->n_settings == n_opts, "point %zu: %zu settings for %zu", i, q->n_settings, n_opts);
    for (size_t k = 0; k < q->n_settings; k++)
      IOV_FUZZ_CHECK(q->settings[k].opt == &ops->options[k] &&
                         iov_engine_opt_check(q->settings[k].opt, q->settings[k].value, NULL, 0) == 0,
                     "point %zu: setting %zu out of its table", i, k);
    IOV_FUZZ_CHECK(q->topo == iov_topology_from_string(q->topology) &&
                       q->path_id == iov_path_from_string(q->path) &&
                       q->on_error_id == iov_on_error_from_string(q->on_error) && q->on_error_id >= 0,
                   "point %zu: enums disagree with the text", i);
    IOV_FUZZ_CHECK(q->duration >= 100 * IOV_NSEC_PER_MSEC && q->duration <= 24 * 3600 * IOV_NSEC_PER_SEC,
                   "point %zu: duration %llu", i, (unsigned long long)q->duration);
    IOV_FUZZ_CHECK(q->warmup <= 3600 * IOV_NSEC_PER_SEC, "point %zu: warmup %llu", i,
                   (unsigned long long)q->warmup);
    IOV_FUZZ_CHECK(q->sample_interval >= 10 * IOV_NSEC_PER_MSEC && q->sample_interval <= q->duration,
                   "point %zu: sample_interval %llu of %llu", i, (unsigned long long)q->sample_interval,
                   (unsigned long long)q->duration);
    IOV_FUZZ_CHECK(q->timeout >= IOV_NSEC_PER_SEC && q->timeout <= 3600 * IOV_NSEC_PER_SEC,
                   "point %zu: timeout %llu", i, (unsigned long long)q->timeout);
    IOV_FUZZ_CHECK(q->nodelay <= 1, "point %zu: nodelay %llu", i, (unsigned long long)q->nodelay);
    json_t *j = iov_json_point_params(pt);
    IOV_FUZZ_CHECK(j, "point %zu: no JSON", i);
    char *s = iov_json_dumps(j);
    IOV_FUZZ_CHECK(s, "point %zu: JSON does not dump", i);
    free(s);
    json_decref(j);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct iov_plan *plan = NULL;
  char buf[512] = "";
  size_t done = 0;
  int r;

  if (memfd < 0) LLVMFuzzerInitialize(NULL, NULL);
  if (ftruncate(memfd, 0) < 0 || lseek(memfd, 0, SEEK_SET) < 0) abort();
  while (done < size) {
    ssize_t n = write(memfd, data + done, size - done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
  r = iov_plan_load(path, iov_engine_plan_workloads(), &plan, buf, sizeof(buf));
  iov_fuzz_note("plan: %d, %zu points %s\n", r, plan ? plan->n_points : 0, r < 0 ? buf : "");
  if (r == 0) {
    IOV_FUZZ_CHECK(plan, "loaded without a plan");
    IOV_FUZZ_CHECK(plan->text && strlen(plan->text) == size, "the stored text is not the file");
    check_plan(plan);
    iov_plan_free(plan);
  } else {
    IOV_FUZZ_CHECK(r == -IOV_E_PLAN || r == -ENOMEM || r == -EFBIG, "load returned %d", r);
    IOV_FUZZ_CHECK(*buf, "an error without a message (%d)", r);
  }
  return 0;
}
