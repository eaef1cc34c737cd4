#include "text.h"

#include <stdlib.h>
#include <string.h>

size_t iov_utf8_next(const char *s, uint32_t *cp) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned char c = p[0];
  size_t n;
  uint32_t v, min;

  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, v = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, v = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else
    return 0;
  for (size_t i = 1; i < n; i++) { /* stops at the NUL: it is no continuation byte */
    if ((p[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (p[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

bool iov_utf8_valid(const char *s) {
  uint32_t cp;
  for (const char *p = s; p && *p;) {
    size_t k = iov_utf8_next(p, &cp);
    if (!k) return false;
    p += k;
  }
  return true;
}

void iov_utf8_sanitize(char *s) {
  uint32_t cp;
  for (char *p = s; p && *p;) {
    size_t k = iov_utf8_next(p, &cp);
    if (k)
      p += k;
    else
      *p++ = '?';
  }
}

bool iov_text_hidden(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

/* One step over s: the length of what is at p (a code point, or 1 for a
 * byte that starts none) and whether it may be shown as it is. */
static size_t text_step(const char *p, bool *shown) {
  uint32_t cp = 0;
  size_t k = iov_utf8_next(p, &cp);
  *shown = k && !iov_text_hidden(cp);
  return k ? k : 1;
}

void iov_text_sanitize(char *s) {
  bool shown;
  for (char *p = s; p && *p;) {
    size_t k = text_step(p, &shown);
    if (!shown) memset(p, '?', k);
    p += k;
  }
}

char *iov_text_clean(const char *s, size_t max) {
  const char *p = s ? s : "";
  size_t len = strlen(p), total = 0, keep, n = 0;
  bool shown;
  char *out;

  if (max < 4) max = 4;
  for (const char *q = p; *q && total <= max; total++) q += text_step(q, &shown);
  keep = total <= max ? total : max - 3; /* else the rest is cut, said by "..." */
  out = malloc((len < 4 * max ? len : 4 * max) + 4);
  if (!out) return NULL;
  for (size_t i = 0; i < keep; i++) {
    size_t k = text_step(p, &shown);
    if (shown)
      memcpy(out + n, p, k), n += k;
    else
      out[n++] = '?';
    p += k;
  }
  if (keep < total) memcpy(out + n, "...", 3), n += 3;
  out[n] = '\0';
  return out;
}

void iov_text_put(FILE *f, const char *s, size_t max) {
  char *c = iov_text_clean(s, max);
  if (c) fputs(c, f);
  free(c);
}
