/* Ethernet frame arithmetic (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "err.h"
#include "parse.h"

#define PART_MASK ((UINT64_C(1) << IOV_FRAME_PART_BITS) - 1)
#define SIZE_MASK ((1u << 14) - 1)
#define WEIGHT_MASK ((1u << 7) - 1)
#define TOKEN_MAX 32

static const char mix_example[] = "'64:7 570:4 1518:1'";

static bool size_ok(uint64_t s) { return s >= IOV_FRAME_MIN && s <= IOV_FRAME_MAX; }

/* The parts of a value with bit 63 set; 0 when any is malformed. */
static size_t mix_parts(uint64_t v, struct iov_frame_part out[IOV_FRAME_MIX_MAX]) {
  size_t n = 0;
  bool ended = false;

  for (unsigned i = 0; i < IOV_FRAME_MIX_MAX; i++) {
    uint64_t p = (v >> (IOV_FRAME_PART_BITS * i)) & PART_MASK;
    unsigned size = (unsigned)(p & SIZE_MASK), weight = (unsigned)(p >> 14) & WEIGHT_MASK;

    if (p == 0) {
      ended = true;
      continue;
    }
    if (ended || !size_ok(size) || weight == 0) return 0;
    out[n].size = size;
    out[n].weight = weight;
    n++;
  }
  return n;
}

size_t iov_frame_parts(uint64_t v, struct iov_frame_part out[IOV_FRAME_MIX_MAX]) {
  struct iov_frame_part tmp[IOV_FRAME_MIX_MAX];
  size_t n;

  if (v == 0) return 0;
  if (!(v & IOV_FRAME_MIX_BIT)) {
    if (!size_ok(v)) return 0;
    out[0].size = (unsigned)v;
    out[0].weight = 1;
    return 1;
  }
  n = mix_parts(v, tmp);
  memcpy(out, tmp, n * sizeof(tmp[0]));
  return n;
}

bool iov_frame_valid(uint64_t v) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  return v == 0 || iov_frame_parts(v, parts) > 0;
}

unsigned iov_frame_cycle(uint64_t v) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t n = iov_frame_parts(v, parts);
  unsigned w = 0;

  for (size_t i = 0; i < n; i++) w += parts[i].weight;
  return w;
}

/* One cycle of smooth weighted round robin: every datagram, each part
 * earns its weight, the part with the most credit (the first of equals)
 * is sent and pays the cycle's total.  Over a cycle each part is sent
 * exactly weight times, spread as evenly as the weights allow (7:4:1 ->
 * 64 570 64 64 570 64 1518 64 570 64 64 570, ...). */
static unsigned swrr(const struct iov_frame_part *parts, size_t n, unsigned total, uint64_t upto,
                     uint16_t *out) {
  int credit[IOV_FRAME_MIX_MAX] = { 0 };
  unsigned pick = 0;

  for (uint64_t k = 0; k <= upto; k++) {
    pick = 0;
    for (size_t i = 0; i < n; i++) {
      credit[i] += (int)parts[i].weight;
      if (credit[i] > credit[pick]) pick = (unsigned)i;
    }
    credit[pick] -= (int)total;
    if (out) out[k] = (uint16_t)parts[pick].size;
  }
  return parts[pick].size;
}

unsigned iov_frame_nth(uint64_t v, uint64_t n) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np = iov_frame_parts(v, parts);
  unsigned total = 0;

  if (np == 0) return 0;
  if (np == 1) return parts[0].size;
  for (size_t i = 0; i < np; i++) total += parts[i].weight;
  return swrr(parts, np, total, n % total, NULL);
}

unsigned iov_frame_table(uint64_t v, uint16_t out[IOV_FRAME_CYCLE_MAX]) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np = iov_frame_parts(v, parts);
  unsigned total = 0;

  if (np == 0) return 0;
  for (size_t i = 0; i < np; i++) total += parts[i].weight;
  swrr(parts, np, total, total - 1, out);
  return total;
}

unsigned iov_frame_overhead(int family) {
  unsigned ip = family == AF_INET ? 20 : family == AF_INET6 ? 40 : 0;
  return ip ? IOV_FRAME_ETH_HDR + IOV_FRAME_FCS + ip + IOV_FRAME_UDP_HDR : 0;
}

int iov_frame_payload(unsigned frame, int family) {
  unsigned over = iov_frame_overhead(family);
  if (!over) return -EAFNOSUPPORT;
  if (!size_ok(frame)) return -ERANGE;
  int payload = (int)frame - (int)over;
  return payload >= 0 ? payload : -ERANGE;
}

unsigned iov_frame_min(int family, unsigned payload_min) {
  unsigned over = iov_frame_overhead(family);
  if (!over) return 0;
  unsigned f = payload_min + over;
  return f < IOV_FRAME_MIN ? IOV_FRAME_MIN : f;
}

double iov_frame_mean(uint64_t v) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np = iov_frame_parts(v, parts);
  double sum = 0, w = 0;

  for (size_t i = 0; i < np; i++) {
    sum += (double)parts[i].size * parts[i].weight;
    w += parts[i].weight;
  }
  return w > 0 ? sum / w : 0;
}

double iov_frame_mean_payload(uint64_t v, int family) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np = iov_frame_parts(v, parts);
  double sum = 0, w = 0;

  for (size_t i = 0; i < np; i++) {
    int p = iov_frame_payload(parts[i].size, family);
    if (p < 0) return NAN;
    sum += (double)p * parts[i].weight;
    w += parts[i].weight;
  }
  return w > 0 ? sum / w : NAN;
}

const char *iov_frame_format(uint64_t v, char *buf, size_t n) {
  struct iov_frame_part parts[IOV_FRAME_MIX_MAX];
  size_t np, off = 0;

  if (!buf || n == 0) return buf;
  buf[0] = '\0';
  if (v == 0 || !(v & IOV_FRAME_MIX_BIT)) {
    if (v == 0 || size_ok(v))
      snprintf(buf, n, "%" PRIu64, v);
    else
      snprintf(buf, n, "0x%" PRIx64, v);
    return buf;
  }
  if (v == IOV_FRAME_IMIX) {
    snprintf(buf, n, "imix");
    return buf;
  }
  np = mix_parts(v, parts);
  if (np == 0) {
    snprintf(buf, n, "0x%" PRIx64, v);
    return buf;
  }
  for (size_t i = 0; i < np && off < n; i++) {
    int w = snprintf(buf + off, n - off, "%s%u:%u", i ? " " : "", parts[i].size, parts[i].weight);
    if (w < 0) break;
    off += (size_t)w;
  }
  return buf;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* A whole number from the token's [s, s+len), or -EINVAL. */
static int parse_num(const char *s, size_t len, uint64_t *ret) {
  char tmp[TOKEN_MAX];

  if (len == 0 || len >= sizeof(tmp)) return -EINVAL;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  return iov_parse_u64(tmp, ret);
}

int iov_frame_parse(const char *text, uint64_t *ret, char *err, size_t errlen) {
  struct {
    const char *s;
    size_t len;
  } tok[IOV_FRAME_MIX_MAX + 1];
  size_t nt = 0, total = 0;
  const char *p = text;
  uint64_t v = IOV_FRAME_MIX_BIT;

  if (!text) return iov_errf(-EINVAL, err, errlen, "no frame size given");
  while (*p) {
    while (is_blank(*p)) p++;
    if (!*p) break;
    const char *start = p;
    while (*p && !is_blank(*p)) p++;
    total++;
    if (nt < IOV_FRAME_MIX_MAX + 1) {
      tok[nt].s = start;
      tok[nt].len = (size_t)(p - start);
      nt++;
    }
  }
  if (total == 0)
    return iov_errf(-EINVAL, err, errlen, "empty frame size: use %d..%d, imix or a mix such as %s",
                    IOV_FRAME_MIN, IOV_FRAME_MAX, mix_example);
  if (total == 1 && !memchr(tok[0].s, ':', tok[0].len)) {
    uint64_t s;

    if (tok[0].len == 4 && strncasecmp(tok[0].s, "imix", 4) == 0) {
      *ret = IOV_FRAME_IMIX;
      return 0;
    }
    if (parse_num(tok[0].s, tok[0].len, &s) < 0)
      return iov_errf(
          -EINVAL, err, errlen, "'%.*s' is not a frame size: use %d..%d, imix or a mix such as %s",
          (int)tok[0].len < 64 ? (int)tok[0].len : 64, tok[0].s, IOV_FRAME_MIN, IOV_FRAME_MAX, mix_example);
    if (s != 0 && !size_ok(s))
      return iov_errf(-ERANGE, err, errlen, "frame size %" PRIu64 " is out of range; use %d..%d", s,
                      IOV_FRAME_MIN, IOV_FRAME_MAX);
    *ret = s;
    return 0;
  }
  if (total > IOV_FRAME_MIX_MAX)
    return iov_errf(-EINVAL, err, errlen,
                    "part '%.*s' of the frame mix is one too many: a mix has 1 to %d SIZE:WEIGHT parts",
                    (int)tok[IOV_FRAME_MIX_MAX].len < 64 ? (int)tok[IOV_FRAME_MIX_MAX].len : 64,
                    tok[IOV_FRAME_MIX_MAX].s, IOV_FRAME_MIX_MAX);
  for (size_t i = 0; i < nt; i++) {
    const char *colon = memchr(tok[i].s, ':', tok[i].len);
    int tl = (int)tok[i].len < 64 ? (int)tok[i].len : 64;
    uint64_t size, weight;

    if (!colon || parse_num(tok[i].s, (size_t)(colon - tok[i].s), &size) < 0 ||
        parse_num(colon + 1, tok[i].len - (size_t)(colon + 1 - tok[i].s), &weight) < 0)
      return iov_errf(
          -EINVAL, err, errlen,
          "part '%.*s' of the frame mix is not SIZE:WEIGHT (e.g. %s; sizes %d..%d, weights 1..%d)", tl,
          tok[i].s, mix_example, IOV_FRAME_MIN, IOV_FRAME_MAX, IOV_FRAME_WEIGHT_MAX);
    if (!size_ok(size))
      return iov_errf(-ERANGE, err, errlen,
                      "part '%.*s' of the frame mix: size %" PRIu64 " is out of range; use %d..%d", tl,
                      tok[i].s, size, IOV_FRAME_MIN, IOV_FRAME_MAX);
    if (weight < 1 || weight > IOV_FRAME_WEIGHT_MAX)
      return iov_errf(-ERANGE, err, errlen,
                      "part '%.*s' of the frame mix: weight %" PRIu64 " is out of range; use 1..%d", tl,
                      tok[i].s, weight, IOV_FRAME_WEIGHT_MAX);
    for (size_t j = 0; j < i; j++)
      if (((v >> (IOV_FRAME_PART_BITS * j)) & SIZE_MASK) == size)
        return iov_errf(-EINVAL, err, errlen, "part '%.*s' of the frame mix: size %" PRIu64 " is given twice",
                        tl, tok[i].s, size);
    v |= IOV_FRAME_PART(i, size, weight);
  }
  *ret = v;
  return 0;
}
