#include "inventory.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "macro.h"

static char *read_line(const char *path) {
  char buf[256];
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  char *s = fgets(buf, sizeof(buf), f);
  fclose(f);
  if (!s) return NULL;
  buf[strcspn(buf, "\n")] = 0;
  return strdup(buf);
}

static char *cpu_model(void) {
  char line[512];
  FILE *f = fopen("/proc/cpuinfo", "re");
  char *ret = NULL;
  if (!f) return NULL;
  while (!ret && fgets(line, sizeof(line), f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        p[strcspn(p, "\n")] = 0;
        ret = strdup(p);
      }
    }
  }
  fclose(f);
  return ret;
}

static Iovbench__Interface *find_or_add(Iovbench__Inventory *inv, const char *name) {
  for (size_t i = 0; i < inv->n_interfaces; i++)
    if (strcmp(inv->interfaces[i]->name, name) == 0) return inv->interfaces[i];
  Iovbench__Interface **v = realloc(inv->interfaces, (inv->n_interfaces + 1) * sizeof(*v));
  if (!v) return NULL;
  inv->interfaces = v;
  Iovbench__Interface *it = calloc(1, sizeof(*it));
  if (!it) return NULL;
  iovbench__interface__init(it);
  it->name = strdup(name);
  if (!it->name) {
    free(it);
    return NULL;
  }
  inv->interfaces[inv->n_interfaces++] = it;
  return it;
}

static int add_address(Iovbench__Interface *it, const struct ifaddrs *a) {
  char buf[INET6_ADDRSTRLEN + 16], host[INET6_ADDRSTRLEN];
  int prefix = 0;
  const void *src;
  const void *mask;
  size_t mlen;

  if (a->ifa_addr->sa_family == AF_INET) {
    src = &((const struct sockaddr_in *)a->ifa_addr)->sin_addr;
    mask = a->ifa_netmask ? (const void *)&((const struct sockaddr_in *)a->ifa_netmask)->sin_addr : NULL;
    mlen = 4;
  } else {
    src = &((const struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
    mask = a->ifa_netmask ? (const void *)&((const struct sockaddr_in6 *)a->ifa_netmask)->sin6_addr : NULL;
    mlen = 16;
  }
  if (!inet_ntop(a->ifa_addr->sa_family, src, host, sizeof(host))) return -errno;
  for (size_t i = 0; mask && i < mlen; i++) prefix += __builtin_popcount(((const unsigned char *)mask)[i]);
  snprintf(buf, sizeof(buf), "%s/%d", host, prefix);
  char **v = realloc(it->addresses, (it->n_addresses + 1) * sizeof(*v));
  if (!v) return -ENOMEM;
  it->addresses = v;
  it->addresses[it->n_addresses] = strdup(buf);
  if (!it->addresses[it->n_addresses]) return -ENOMEM;
  it->n_addresses++;
  return 0;
}

static void sysfs_details(Iovbench__Interface *it) {
  char path[PATH_MAX], target[PATH_MAX];
  ssize_t n;

  /* sysfs shows the namespace it was mounted in; an interface that is not
   * there (or belongs to another namespace) simply has no details. */
  snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", it->name);
  n = readlink(path, target, sizeof(target) - 1);
  if (n > 0) {
    target[n] = 0;
    const char *base = strrchr(target, '/');
    it->driver = strdup(base ? base + 1 : target);
  }
  snprintf(path, sizeof(path), "/sys/class/net/%s/speed", it->name);
  char *speed = read_line(path);
  if (speed) {
    char *end;
    long v = strtol(speed, &end, 10); /* sysfs text, not user input */
    if (*end == 0 && v > 0) it->speed_mbps = (uint64_t)v;
    free(speed);
  }
}

int iov_inventory_collect(const char *const *workloads, Iovbench__Inventory **ret) {
  Iovbench__Inventory *inv = calloc(1, sizeof(*inv));
  struct ifaddrs *ifa = NULL;
  struct utsname u;
  struct sysinfo si;
  char host[HOST_NAME_MAX + 1];
  int r = -ENOMEM;
  int sfd = -1;

  if (!inv) return -ENOMEM;
  iovbench__inventory__init(inv);
  if (gethostname(host, sizeof(host)) == 0) {
    host[HOST_NAME_MAX] = 0;
    inv->hostname = strdup(host);
  }
  if (uname(&u) == 0) inv->kernel = strdup(u.release);
  inv->cpus_online = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
  inv->cpu_model = cpu_model();
  if (sysinfo(&si) == 0) inv->mem_total_kb = (uint64_t)si.totalram * si.mem_unit / 1024;
  inv->agent_version = strdup(IOV_VERSION);
  for (size_t n = 0; workloads && workloads[n]; n++) {
    char **v = realloc(inv->workloads, (n + 1) * sizeof(*v));
    if (!v) goto fail;
    inv->workloads = v;
    inv->workloads[n] = strdup(workloads[n]);
    if (!inv->workloads[n]) goto fail;
    inv->n_workloads = n + 1;
  }

  if (getifaddrs(&ifa) < 0) {
    r = -errno;
    goto fail;
  }
  sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  for (struct ifaddrs *a = ifa; a; a = a->ifa_next) {
    Iovbench__Interface *it = find_or_add(inv, a->ifa_name);
    if (!it) goto fail;
    it->up = (a->ifa_flags & IFF_UP) != 0;
    it->loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
    if (!a->ifa_addr) continue;
    if (a->ifa_addr->sa_family == AF_PACKET) {
      const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
      char mac[3 * 8];
      if (ll->sll_halen == 6 && (!it->mac || !*it->mac)) {
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0], ll->sll_addr[1],
                 ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4], ll->sll_addr[5]);
        it->mac = strdup(mac);
      }
      if (sfd >= 0 && !it->mtu) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->ifa_name);
        if (ioctl(sfd, SIOCGIFMTU, &ifr) == 0) it->mtu = (uint32_t)ifr.ifr_mtu;
      }
      if (!it->driver || !*it->driver) sysfs_details(it);
    } else if (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) {
      r = add_address(it, a);
      if (r < 0) goto fail;
    }
  }
  if (sfd >= 0) close(sfd);
  freeifaddrs(ifa);
  *ret = inv;
  return 0;
fail:
  if (sfd >= 0) close(sfd);
  if (ifa) freeifaddrs(ifa);
  iov_inventory_free(inv);
  return r;
}

/* protobuf-c's free_unpacked frees with the allocator it unpacked with;
 * ours was built with malloc, so free it member by member. */
Iovbench__Inventory *iov_inventory_free(Iovbench__Inventory *inv) {
  if (!inv) return NULL;
  for (size_t i = 0; i < inv->n_interfaces; i++) {
    Iovbench__Interface *it = inv->interfaces[i];
    for (size_t j = 0; j < it->n_addresses; j++) free(it->addresses[j]);
    free(it->addresses);
    if (it->name != protobuf_c_empty_string) free(it->name);
    if (it->mac != protobuf_c_empty_string) free(it->mac);
    if (it->driver != protobuf_c_empty_string) free(it->driver);
    free(it);
  }
  free(inv->interfaces);
  for (size_t i = 0; i < inv->n_workloads; i++) free(inv->workloads[i]);
  free(inv->workloads);
  if (inv->hostname != protobuf_c_empty_string) free(inv->hostname);
  if (inv->kernel != protobuf_c_empty_string) free(inv->kernel);
  if (inv->cpu_model != protobuf_c_empty_string) free(inv->cpu_model);
  if (inv->agent_version != protobuf_c_empty_string) free(inv->agent_version);
  free(inv);
  return NULL;
}
