// regex.cc: the C interface of regex.h over Google's RE2 (C++). The only C++ in the engine:
// it catches every exception at the boundary, so none crosses into C. Design: regex.h.
#include <re2/re2.h>

#include <cstdio>
#include <new>

extern "C" {
#include "regex.h"
}

struct mp_regex {
	re2::RE2 re;
	mp_regex(const char *p, size_t n) : re(re2::StringPiece(p, n), re2::RE2::Quiet) {}
};

extern "C" mp_regex *mp_regex_compile(const char *pattern, size_t len, char *err, size_t errlen)
{
	try {
		mp_regex *r = new mp_regex(pattern, len);
		if (!r->re.ok()) {
			std::snprintf(err, errlen, "%s", r->re.error().c_str());
			delete r;
			return nullptr;
		}
		return r;
	} catch (...) {
		std::snprintf(err, errlen, "out of memory");
		return nullptr;
	}
}

extern "C" int mp_regex_full_match(const mp_regex *r, const char *s, size_t len)
{
	try {
		return re2::RE2::FullMatch(re2::StringPiece(s, len), r->re) ? 1 : 0;
	} catch (...) {
		return -1;
	}
}

extern "C" void mp_regex_free(mp_regex *r)
{
	delete r;
}
