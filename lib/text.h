/* Text that came from elsewhere (a peer, a guest, a stored run), made
 * safe to keep and to print.  One UTF-8 decoder for the whole tree: the
 * wire's checks, coord's messages about its agents and every report of
 * a stored run use it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The code point of the valid UTF-8 sequence at p and its length, or 0
 * for a byte that does not start one (overlong, surrogate, above
 * U+10FFFF, cut short).  p is NUL-terminated. */
size_t iov_utf8_next(const char *p, uint32_t *cp);
/* Every byte of s is part of valid UTF-8 (NULL is valid). */
bool iov_utf8_valid(const char *s);
/* Every byte of s that is not part of valid UTF-8 becomes '?', in place
 * (NULL is left alone). */
void iov_utf8_sanitize(char *s);

/* Code points never shown as they are: control characters (C0, DEL, C1:
 * line breaks and terminal escapes) and the bidirectional overrides that
 * make text read other than it is. */
bool iov_text_hidden(uint32_t cp);
/* In place: every byte that is not valid UTF-8 and every byte of a hidden
 * code point becomes '?', so that s prints as one line of plain text. */
void iov_text_sanitize(char *s);
/* A printable copy of s: as iov_text_sanitize(), one '?' per hidden code
 * point, and text of more than max code points keeps max - 3 of them and
 * ends "...".  NULL is "".  Caller frees; NULL when out of memory. */
char *iov_text_clean(const char *s, size_t max);
/* iov_text_clean(s, max) written to f. */
void iov_text_put(FILE *f, const char *s, size_t max);
