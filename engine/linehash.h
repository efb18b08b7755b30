/* linehash.h: the line hash GitHub code scanning keys alerts by (a result's
 * partialFingerprints.primaryLocationLineHash), computed as GitHub's upload action computes it
 * when a SARIF file lacks one (github/codeql-action, src/fingerprints.ts), so that the value
 * meshpol writes is the one the action would have written. Prefix mp_linehash. Internal.
 *
 * The hash of line L is a rolling hash (base 37, modulo 2^64) over the 100 characters from the
 * start of L, spaces and tabs left out, line ends read as one '\n', the text as UTF-16 code
 * units; then ":N" for the N-th line of the text with that hash. */
#ifndef MP_LINEHASH_H
#define MP_LINEHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint32_t line; /* 1-based: the line wanted */
	char hash[32]; /* out: "hex:N", or "" when the text has no such line */
} mp_linehash_req;

/* Fills the hash of each request (any order; several may name one line) from len bytes of
 * UTF-8 text (bytes that are not UTF-8 read as U+FFFD). -1 when out of memory, else 0. */
int mp_linehash(const char *text, size_t len, mp_linehash_req *reqs, size_t n);

#endif
