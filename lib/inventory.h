/* What an agent reports about the machine it runs on: hostname, kernel,
 * CPUs, memory and network interfaces (names, MACs, addresses, MTU,
 * driver and speed where sysfs says).  Read through netlink-aware calls
 * (getifaddrs, ioctl), so an agent in a network namespace reports that
 * namespace's interfaces. */
#pragma once

#include "iovbench.pb-c.h"

/* Fill a new inventory.  Caller owns *ret; free with iov_inventory_free().
 * 'workloads' (NULL-terminated, may be NULL) is copied into it. */
int iov_inventory_collect(const char *const *workloads, Iovbench__Inventory **ret);
Iovbench__Inventory *iov_inventory_free(Iovbench__Inventory *inv);
