/* scalar.h: the scalar values mesh documents spell the same way in every format: durations and
 * times, for the native compiler (compile_native.c) and the importers (import.c). Prefix
 * mp_parse_. Formats: docs/mesh-format.md; design: docs/architecture.md ("Compiling"). */
#ifndef MP_SCALAR_H
#define MP_SCALAR_H

#include <stdint.h>

/* Parses "250ms", "2s", "1.5m", "1h" into milliseconds. 0, or -1 when malformed or too large. */
int mp_parse_duration(const char *s, uint32_t *ms);
/* Parses an RFC 3339 time ("2026-12-01T00:00:00Z", "...+02:00") or a date ("2026-12-01")
 * into Unix seconds. 0 or -1. */
int mp_parse_time(const char *s, int64_t *out);

#endif
