/* scalar.c: durations and times as mesh documents write them (scalar.h). Pure functions: no
 * allocation, no state. Design: docs/architecture.md ("Compiling"). */
#include "scalar.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int mp_parse_duration(const char *s, uint32_t *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	double v = strtod(s, &end);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		double t = v * units[i].ms;
		if (!isfinite(t) || t > (double)UINT32_MAX - 1)
			return -1;
		*ms = (uint32_t)llround(t);
		return 0;
	}
	return -1;
}

int mp_parse_time(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	const char *p = s + 10;
	int64_t offset = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		int k = 0;
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &k) != 3 || k != 8)
			return -1;
		p += 9;
		if (*p == '.') /* fractional seconds are dropped */
			for (p++; isdigit((unsigned char)*p); p++)
				;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 ||
			    om > 59)
				return -1;
			offset = (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
			p += 6;
		} else {
			return -1;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	if (tm.tm_mday != d) /* 2026-02-30 rolled over */
		return -1;
	*out = (int64_t)t - offset;
	return 0;
}
