/* Checked number parsing and formatting.  Every number that enters the
 * program as text goes through here, so that blanks, signs, garbage and
 * overflow are rejected the same way everywhere (see parse.h). */
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

struct unit {
  const char *suffix;
  uint64_t mult;
};

/* Sizes are binary: a 64k message is 65536 bytes, as in fio and iperf3. */
static const struct unit size_units[] = {
  { "", 1 },
  { "b", 1 },
  { "k", 1ULL << 10 },
  { "kb", 1ULL << 10 },
  { "kib", 1ULL << 10 },
  { "m", 1ULL << 20 },
  { "mb", 1ULL << 20 },
  { "mib", 1ULL << 20 },
  { "g", 1ULL << 30 },
  { "gb", 1ULL << 30 },
  { "gib", 1ULL << 30 },
  { "t", 1ULL << 40 },
  { "tb", 1ULL << 40 },
  { "tib", 1ULL << 40 },
};

/* Durations are case-sensitive because "m" (minutes) and "ms" must not be
 * confused with anything else; a bare number means seconds. */
static const struct unit duration_units[] = {
  { "", IOV_NSEC_PER_SEC },         { "ns", 1 },
  { "us", IOV_NSEC_PER_USEC },      { "ms", IOV_NSEC_PER_MSEC },
  { "s", IOV_NSEC_PER_SEC },        { "m", 60 * IOV_NSEC_PER_SEC },
  { "h", 3600 * IOV_NSEC_PER_SEC },
};

/* Rates are decimal, as network link speeds are: 10g = 10^10 bit/s.  The
 * prefix may be followed by "bit" or "bps" ("10gbit", "100Mbps"). */
static const struct unit rate_units[] = {
  { "", 1 }, { "k", 1000ULL }, { "m", 1000000ULL }, { "g", 1000000000ULL }, { "t", 1000000000000ULL },
};
static const char *const rate_tails[] = { "", "bit", "bps" };

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Scan "DIGITS[.DIGITS]" at the start of s.  Returns the end of the
 * number, or NULL when s does not start with one.  Overflow of the
 * integer part is reported through *overflow rather than as a failure, so
 * that "99999999999999999999q" is garbage (-EINVAL) and not -ERANGE. */
static const char *scan_number(const char *s, uint64_t *ret_int, bool *overflow, const char **ret_frac,
                               size_t *ret_frac_len) {
  uint64_t v = 0;
  const char *p = s;

  *overflow = false;
  *ret_frac = NULL;
  *ret_frac_len = 0;
  if (!is_digit(*p)) return NULL;
  for (; is_digit(*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      *overflow = true;
    else
      v = v * 10 + d;
  }
  if (*p == '.') {
    p++;
    if (!is_digit(*p)) return NULL;
    *ret_frac = p;
    while (is_digit(*p)) p++;
    *ret_frac_len = (size_t)(p - *ret_frac);
  }
  *ret_int = v;
  return p;
}

/* value = int_part * mult + 0.frac * mult, exactly.  A fraction that does
 * not come out as a whole number of base units ("0.5" bytes, "1.0000000001s")
 * is -EINVAL: we never round silently. */
static int scale(uint64_t int_part, const char *frac, size_t frac_len, uint64_t mult, uint64_t *ret) {
  uint64_t frac_part = 0;

  /* Trailing zeros of the fraction carry no information. */
  while (frac_len > 0 && frac[frac_len - 1] == '0') frac_len--;
  if (frac_len > 0) {
    uint64_t f = 0, pow10 = 1, g, d;

    /* 10^19 does not fit; no unit has that many decimal places anyway. */
    if (frac_len > 18) return -EINVAL;
    for (size_t i = 0; i < frac_len; i++) {
      f = f * 10 + (uint64_t)(frac[i] - '0');
      pow10 *= 10;
    }
    /* f / pow10 * mult must be whole: reduce by gcd so nothing overflows
     * (the result is below mult). */
    g = gcd_u64(mult, pow10);
    d = pow10 / g;
    if (f % d != 0) return -EINVAL;
    frac_part = (f / d) * (mult / g);
  }
  if (int_part > UINT64_MAX / mult) return -ERANGE;
  if (int_part * mult > UINT64_MAX - frac_part) return -ERANGE;
  *ret = int_part * mult + frac_part;
  return 0;
}

static int parse_scaled(const char *s, const struct unit *units, size_t n_units, bool icase,
                        const char *const *tails, size_t n_tails, uint64_t *ret) {
  uint64_t int_part, v;
  bool overflow;
  const char *frac, *suffix;
  size_t frac_len;
  int r;

  if (!s) return -EINVAL;
  suffix = scan_number(s, &int_part, &overflow, &frac, &frac_len);
  if (!suffix) return -EINVAL;
  for (size_t i = 0; i < n_units; i++) {
    size_t ul = strlen(units[i].suffix);
    int cmp = icase ? strncasecmp(suffix, units[i].suffix, ul) : strncmp(suffix, units[i].suffix, ul);

    if (cmp != 0) continue;
    for (size_t t = 0; t < n_tails; t++) {
      if (strcmp(suffix + ul, tails[t]) != 0) continue;
      if (overflow) return -ERANGE;
      r = scale(int_part, frac, frac_len, units[i].mult, &v);
      if (r < 0) return r;
      *ret = v;
      return 0;
    }
  }
  return -EINVAL;
}

static const char *const no_tails[] = { "" };

int iov_parse_u64(const char *s, uint64_t *ret) {
  uint64_t v = 0;
  bool overflow = false;

  if (!s || !is_digit(*s)) return -EINVAL;
  for (; is_digit(*s); s++) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      overflow = true;
    else
      v = v * 10 + d;
  }
  if (*s) return -EINVAL;
  if (overflow) return -ERANGE;
  *ret = v;
  return 0;
}

int iov_parse_size(const char *s, uint64_t *ret) {
  return parse_scaled(s, size_units, ELEMENTSOF(size_units), true, no_tails, ELEMENTSOF(no_tails), ret);
}

int iov_parse_duration(const char *s, uint64_t *ret_ns) {
  return parse_scaled(s, duration_units, ELEMENTSOF(duration_units), false, no_tails, ELEMENTSOF(no_tails),
                      ret_ns);
}

int iov_parse_rate(const char *s, uint64_t *ret_bps) {
  return parse_scaled(s, rate_units, ELEMENTSOF(rate_units), true, rate_tails, ELEMENTSOF(rate_tails),
                      ret_bps);
}

int iov_parse_bool(const char *s, int *ret) {
  static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
  static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

  if (!s) return -EINVAL;
  for (size_t i = 0; i < ELEMENTSOF(yes); i++)
    if (strcasecmp(s, yes[i]) == 0) {
      *ret = 1;
      return 0;
    }
  for (size_t i = 0; i < ELEMENTSOF(no); i++)
    if (strcasecmp(s, no[i]) == 0) {
      *ret = 0;
      return 0;
    }
  return -EINVAL;
}

#define PPB_PER_PERCENT UINT64_C(10000000)

int iov_parse_percent(const char *s, uint64_t *ret_ppb) {
  uint64_t whole = 0, frac = 0, scale = PPB_PER_PERCENT;
  const char *p = s;
  bool digits = false;

  if (!s) return -EINVAL;
  if (strcmp(s, "0") == 0) {
    *ret_ppb = 0;
    return 0;
  }
  for (; *p >= '0' && *p <= '9'; p++) {
    digits = true;
    if (whole > (UINT64_MAX / PPB_PER_PERCENT - 9) / 10) return -ERANGE;
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    p++;
    for (; *p >= '0' && *p <= '9'; p++) {
      digits = true;
      scale /= 10;
      if (scale == 0) return -EINVAL; /* finer than one part per billion */
      frac += (uint64_t)(*p - '0') * scale;
    }
  }
  if (!digits) return -EINVAL;
  if (*p == ' ') p++;
  if (strcmp(p, "%") != 0) return -EINVAL;
  *ret_ppb = whole * PPB_PER_PERCENT + frac;
  return 0;
}

const char *iov_format_percent(char *buf, size_t n, uint64_t ppb) {
  uint64_t frac = ppb % PPB_PER_PERCENT;
  int digits = 7;

  if (!buf || n == 0) return buf;
  if (frac == 0) {
    snprintf(buf, n, "%" PRIu64 "%%", ppb / PPB_PER_PERCENT);
    return buf;
  }
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  snprintf(buf, n, "%" PRIu64 ".%0*" PRIu64 "%%", ppb / PPB_PER_PERCENT, digits, frac);
  return buf;
}

const char *iov_format_size(char *buf, size_t n, uint64_t v) {
  static const struct unit units[] = {
    { "t", 1ULL << 40 }, { "g", 1ULL << 30 }, { "m", 1ULL << 20 }, { "k", 1ULL << 10 }
  };

  if (!buf || n == 0) return buf;
  for (size_t i = 0; v != 0 && i < ELEMENTSOF(units); i++)
    if (v % units[i].mult == 0) {
      snprintf(buf, n, "%" PRIu64 "%s", v / units[i].mult, units[i].suffix);
      return buf;
    }
  snprintf(buf, n, "%" PRIu64, v);
  return buf;
}

const char *iov_format_duration(char *buf, size_t n, uint64_t ns) {
  /* The largest unit that divides exactly wins ("90s", "250ms"); below an
   * hour, seconds, milliseconds and microseconds may carry a decimal
   * fraction ("1.5s") so the text stays short and parses back exactly. */
  static const struct {
    const char *suffix;
    uint64_t mult;
    unsigned decimals; /* 0: this unit is only used when it divides exactly */
  } units[] = {
    { "h", 3600 * IOV_NSEC_PER_SEC, 0 }, { "m", 60 * IOV_NSEC_PER_SEC, 0 }, { "s", IOV_NSEC_PER_SEC, 9 },
    { "ms", IOV_NSEC_PER_MSEC, 6 },      { "us", IOV_NSEC_PER_USEC, 3 },
  };

  if (!buf || n == 0) return buf;
  if (ns == 0) {
    snprintf(buf, n, "0s");
    return buf;
  }
  for (size_t i = 0; i < ELEMENTSOF(units); i++) {
    uint64_t m = units[i].mult;
    char frac[16];
    int len;

    if (ns < m) continue;
    if (ns % m == 0) {
      snprintf(buf, n, "%" PRIu64 "%s", ns / m, units[i].suffix);
      return buf;
    }
    if (units[i].decimals == 0) continue;
    len = snprintf(frac, sizeof(frac), "%0*" PRIu64, (int)units[i].decimals, ns % m);
    while (len > 0 && frac[len - 1] == '0') frac[--len] = '\0';
    snprintf(buf, n, "%" PRIu64 ".%s%s", ns / m, frac, units[i].suffix);
    return buf;
  }
  snprintf(buf, n, "%" PRIu64 "ns", ns);
  return buf;
}

int iov_parse_cpus(const char *s, uint16_t *ret, size_t max, size_t *ret_n) {
  size_t n = 0;
  unsigned char seen[IOV_MAX_CPUS / 8] = { 0 };
  const char *p = s;

  if (!s || !*s) return -EINVAL;
  if (strcmp(s, "none") == 0) {
    *ret_n = 0;
    return 0;
  }
  for (;;) {
    char part[32], *dash;
    size_t len = strcspn(p, "+");
    uint64_t lo, hi;
    int r;

    if (len == 0 || len >= sizeof(part)) return -EINVAL;
    memcpy(part, p, len);
    part[len] = 0;
    dash = strchr(part, '-');
    if (dash) {
      *dash = 0;
      r = iov_parse_u64(part, &lo);
      if (r == 0) r = iov_parse_u64(dash + 1, &hi);
    } else {
      r = iov_parse_u64(part, &lo);
      hi = lo;
    }
    if (r < 0) return r;
    if (lo > hi || hi >= IOV_MAX_CPUS) return -EINVAL;
    for (uint64_t c = lo; c <= hi; c++) {
      if (seen[c / 8] & (1u << (c % 8))) continue;
      if (n == max) return -E2BIG;
      seen[c / 8] |= (unsigned char)(1u << (c % 8));
      ret[n++] = (uint16_t)c;
    }
    p += len;
    if (*p == 0) break;
    p++; /* '+' */
  }
  *ret_n = n;
  return 0;
}

bool iov_is_hex(char c) { return iov_hex_value(c) >= 0; }

int iov_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int iov_parse_mac(const char *s, uint8_t ret[6]) {
  uint8_t m[6];

  if (!s || !ret || strlen(s) != 17) return -EINVAL;
  for (int i = 0; i < 6; i++) {
    int hi = iov_hex_value(s[3 * i]), lo = iov_hex_value(s[3 * i + 1]);
    if (hi < 0 || lo < 0) return -EINVAL;
    if (i < 5 && s[3 * i + 2] != ':') return -EINVAL;
    m[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(ret, m, 6);
  return 0;
}

const char *iov_format_mac(char buf[18], const uint8_t mac[6]) {
  snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

bool iov_mac_ok(const char *s) {
  uint8_t m[6];
  return iov_parse_mac(s, m) == 0;
}

bool iov_hwaddr_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 2 || n > 3 * 32 - 1) return false;
  for (size_t i = 0; i < n; i++)
    if (i % 3 == 2 ? s[i] != ':' : !iov_is_hex(s[i])) return false;
  return n % 3 == 2;
}
