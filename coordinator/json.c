#include "json.h"

#include <errno.h>

json_t *iov_json_inventory(const char *name, const char *endpoint, const Iovbench__Welcome *w) {
  const Iovbench__Inventory *inv = w ? w->inventory : NULL;
  json_t *ifs = json_array();
  json_t *wl = json_array();
  json_t *j = json_pack("{s:s, s:s, s:s?}", "name", name, "endpoint", endpoint, "identity",
                        w && w->identity ? w->identity : NULL);
  if (!j || !ifs || !wl) goto oom;
  if (inv) {
    for (size_t i = 0; i < inv->n_interfaces; i++) {
      const Iovbench__Interface *it = inv->interfaces[i];
      json_t *addrs = json_array();
      if (!addrs) goto oom;
      for (size_t k = 0; k < it->n_addresses; k++)
        json_array_append_new(addrs, json_string(it->addresses[k]));
      json_array_append_new(ifs, json_pack("{s:s, s:s, s:o, s:i, s:b, s:b, s:s, s:I}", "name", it->name,
                                           "mac", it->mac ? it->mac : "", "addresses", addrs, "mtu",
                                           (int)it->mtu, "up", it->up, "loopback", it->loopback, "driver",
                                           it->driver ? it->driver : "", "speed_mbps",
                                           (json_int_t)it->speed_mbps));
    }
    for (size_t i = 0; i < inv->n_workloads; i++) json_array_append_new(wl, json_string(inv->workloads[i]));
    json_object_set_new(j, "hostname", json_string(inv->hostname ? inv->hostname : ""));
    json_object_set_new(j, "kernel", json_string(inv->kernel ? inv->kernel : ""));
    json_object_set_new(j, "cpus_online", json_integer(inv->cpus_online));
    json_object_set_new(j, "cpu_model", json_string(inv->cpu_model ? inv->cpu_model : ""));
    json_object_set_new(j, "mem_total_kb", json_integer((json_int_t)inv->mem_total_kb));
    json_object_set_new(j, "agent_version", json_string(inv->agent_version ? inv->agent_version : ""));
  }
  json_object_set_new(j, "interfaces", ifs);
  json_object_set_new(j, "workloads", wl);
  return j;
oom:
  json_decref(j);
  json_decref(ifs);
  json_decref(wl);
  return NULL;
}

json_t *iov_json_point_params(const struct iov_plan_point *p) {
  return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "test", p->test, "index",
                   (int)p->index, "sweep", p->sweep ? p->sweep : "", "workload", p->p.workload, "sender",
                   p->p.sender, "receiver", p->p.receiver, "flows", (json_int_t)p->p.flows, "msg_size",
                   (json_int_t)p->p.msg_size, "response_size", (json_int_t)p->p.response_size, "duration_ns",
                   (json_int_t)p->p.duration, "sample_interval_ns", (json_int_t)p->p.sample_interval,
                   "timeout_ns", (json_int_t)p->p.timeout);
}

char *iov_json_dumps(const json_t *j) { return j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL; }

int iov_json_dump_file(const json_t *j, const char *path) {
  if (!j) return -ENOMEM;
  return json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 ? 0 : -EIO;
}
