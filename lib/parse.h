/* Checked number parsing: the only place that turns text into numbers.
 * No raw atoi/strtol elsewhere.  All return 0 or -EINVAL / -ERANGE, and
 * write *ret only on success.  Leading/trailing blanks are rejected. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal unsigned integer, "0".."18446744073709551615". */
int iov_parse_u64(const char *s, uint64_t *ret);
/* Byte size: a number with an optional binary suffix k, m, g (or K, M, G,
 * also "kb", "KiB"...): 64k = 65536. */
int iov_parse_size(const char *s, uint64_t *ret);
/* Duration into nanoseconds: suffixes ns, us, ms, s, m (minutes), h;
 * a bare number means seconds.  Fractions allowed: "1.5s". */
int iov_parse_duration(const char *s, uint64_t *ret_ns);
/* Bit rate into bit/s: decimal suffixes k, m, g (10g = 10^10). */
int iov_parse_rate(const char *s, uint64_t *ret_bps);
/* yes/no, true/false, on/off, 1/0. */
int iov_parse_bool(const char *s, int *ret);
/* A percentage into parts per billion (1% = 10^7): "0.5%", "0.5 %",
 * "100%" (at most 7 decimals), or a bare "0".  Without '%' any other
 * number is -EINVAL: "0.5" could mean a fraction as well as a percent. */
int iov_parse_percent(const char *s, uint64_t *ret_ppb);

#define IOV_MAX_CPUS 4096
/* CPU list: parts joined by '+', each N or N-M (N <= M < IOV_MAX_CPUS),
 * e.g. "0-3+6"; "none" gives an empty list.  At most 'max' CPUs are
 * written to ret (in the order given, duplicates kept out); -E2BIG beyond. */
int iov_parse_cpus(const char *s, uint16_t *ret, size_t max, size_t *ret_n);

/* Format into buf, return buf.  Sizes: "64k", "1500", "1m" when exact,
 * otherwise bytes.  Durations: "250ms", "10s", "1.5s". */
const char *iov_format_size(char *buf, size_t n, uint64_t v);
const char *iov_format_duration(char *buf, size_t n, uint64_t ns);
/* Parts per billion as a percentage: "0.5%", "1%", "0%". */
const char *iov_format_percent(char *buf, size_t n, uint64_t ppb);

/* Validators shared by the modules that take addresses from sysfs, the
 * plan or libvirt. */

/* 0-9, a-f, A-F. */
bool iov_is_hex(char c);
/* The value of a hex digit, or -1. */
int iov_hex_value(char c);
/* An Ethernet MAC "02:00:00:00:00:01" (hex digits of either case, ':'
 * between the six bytes) <-> 6 bytes.  Parse returns 0 or -EINVAL and
 * writes ret only on success; format writes 18 bytes (lower case) and
 * returns buf. */
int iov_parse_mac(const char *s, uint8_t ret[6]);
const char *iov_format_mac(char buf[18], const uint8_t mac[6]);
/* Whether s is an Ethernet MAC as iov_parse_mac() takes it (NULL: no). */
bool iov_mac_ok(const char *s);
/* Whether s is a link-layer address as sysfs prints one (net/DEV/address):
 * 1 to 32 bytes as hex pairs joined by ':' (Ethernet 6, InfiniBand 20). */
bool iov_hwaddr_ok(const char *s);
