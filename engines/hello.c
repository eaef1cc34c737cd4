/* The data-path hello: a sender proves to itself that an iovbench
 * receiver of this very point listens at the far end of the flow's own
 * 5-tuple before it sends anything else (issue 14).
 *
 * Both messages are HELLO_LEN (40) bytes, the first bytes of a TCP
 * connection or one UDP datagram:
 *
 *   offset 0   4 bytes  magic: "IOVH" (hello, sender -> receiver) or
 *                       "IOVA" (answer, receiver -> sender)
 *   offset 4   u32      version, network byte order: 1
 *   offset 8   16 bytes nonce, random per flow, chosen by the sender; the
 *                       answer repeats it
 *   offset 24  16 bytes tag = PRF(token, magic || nonce), the PRF being
 *                       SipHash-2-4 keyed with the point's 16-byte token,
 *                       twice (domain bytes 1 and 2) for 128 bits
 *
 * Why a keyed transform and not an echo of the token: an echo would be
 * answered correctly by anything that reflects what it gets (a UDP echo
 * service, another benchmark's RR server), so it would not prove that
 * iovbench listens; and the token itself never crosses the data path, so
 * an observer of one flow cannot answer for another point.  The answer's
 * tag differs from the hello's (another magic in the PRF input), so
 * reflecting the hello is not an answer either.  The nonce makes every
 * flow's exchange fresh.  SipHash is a PRF made for short inputs with a
 * 128-bit key, which the token is. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "engine.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void sipround(uint64_t v[4]) {
  v[0] += v[1];
  v[1] = ROTL(v[1], 13);
  v[1] ^= v[0];
  v[0] = ROTL(v[0], 32);
  v[2] += v[3];
  v[3] = ROTL(v[3], 16);
  v[3] ^= v[2];
  v[0] += v[3];
  v[3] = ROTL(v[3], 21);
  v[3] ^= v[0];
  v[2] += v[1];
  v[1] = ROTL(v[1], 17);
  v[1] ^= v[2];
  v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 of msg (len bytes) under a 16-byte key. */
static uint64_t siphash24(const uint8_t key[16], const uint8_t *msg, size_t len) {
  uint64_t k0 = le64(key), k1 = le64(key + 8);
  uint64_t v[4] = { k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d),
                    k0 ^ UINT64_C(0x6c7967656e657261), k1 ^ UINT64_C(0x7465646279746573) };
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t m = le64(msg + i);
    v[3] ^= m;
    sipround(v);
    sipround(v);
    v[0] ^= m;
  }
  uint64_t b = (uint64_t)len << 56;
  for (size_t j = 0; i + j < len; j++) b |= (uint64_t)msg[i + j] << (8 * j);
  v[3] ^= b;
  sipround(v);
  sipround(v);
  v[0] ^= b;
  v[2] ^= 0xff;
  for (int r = 0; r < 4; r++) sipround(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void tag(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const char magic[4], const uint8_t nonce[16],
                uint8_t out[16]) {
  uint8_t in[1 + 4 + 16];
  memcpy(in + 1, magic, 4);
  memcpy(in + 5, nonce, 16);
  for (int half = 0; half < 2; half++) {
    in[0] = (uint8_t)(half + 1);
    uint64_t h = siphash24(token, in, sizeof(in));
    for (int j = 0; j < 8; j++) out[8 * half + j] = (uint8_t)(h >> (8 * j));
  }
}

static void build(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const char magic[4], const uint8_t nonce[16],
                  uint8_t msg[IOV_HELLO_LEN]) {
  memcpy(msg, magic, 4);
  msg[4] = msg[5] = msg[6] = 0;
  msg[7] = 1;
  memcpy(msg + 8, nonce, 16);
  tag(token, magic, nonce, msg + 24);
}

/* Constant time: the comparison does not tell how much of a guess was right. */
static bool same(const uint8_t *a, const uint8_t *b, size_t n) {
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++) d |= a[i] ^ b[i];
  return d == 0;
}

static bool check(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const char magic[4], const uint8_t *buf,
                  size_t n, const uint8_t *want_nonce) {
  uint8_t expect[IOV_HELLO_LEN];
  if (n != IOV_HELLO_LEN || memcmp(buf, magic, 4) != 0) return false;
  if (want_nonce && memcmp(buf + 8, want_nonce, 16) != 0) return false;
  build(token, magic, buf + 8, expect);
  return same(expect, buf, IOV_HELLO_LEN);
}

int iov_hello_make(const uint8_t token[IOV_ENGINE_TOKEN_LEN], uint8_t nonce[16],
                   uint8_t hello[IOV_HELLO_LEN]) {
  ssize_t k;
  do k = getrandom(nonce, 16, 0);
  while (k < 0 && errno == EINTR);
  if (k != 16) return k < 0 ? -errno : -EIO;
  build(token, "IOVH", nonce, hello);
  return 0;
}

bool iov_hello_is(const uint8_t *buf, size_t n) { return n == IOV_HELLO_LEN && memcmp(buf, "IOVH", 4) == 0; }

bool iov_hello_answer(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const uint8_t *buf, size_t n,
                      uint8_t answer[IOV_HELLO_LEN]) {
  if (!check(token, "IOVH", buf, n, NULL)) return false;
  build(token, "IOVA", buf + 8, answer);
  return true;
}

bool iov_hello_answer_ok(const uint8_t token[IOV_ENGINE_TOKEN_LEN], const uint8_t nonce[16],
                         const uint8_t *buf, size_t n) {
  return check(token, "IOVA", buf, n, nonce);
}
