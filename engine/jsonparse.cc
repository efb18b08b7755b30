// jsonparse.cc: mp_json_parse, json_loadb's tree from simdjson's DOM (C++). Every exception is
// caught at the boundary, and every doubt goes to json_loadb. Design: jsonparse.h.
#include <simdjson.h>

#include <cstdio>
#include <cstring>

extern "C" {
#include "jsonparse.h"
}

namespace
{

namespace dom = simdjson::dom;

// Allocates nothing until the first parse; freed when the thread ends.
thread_local dom::parser parser(MP_JSON_FAST_MAX);
thread_local mp_json_parse_counts counts;

// The tree of a parsed document, or NULL where json_loadb's answer could differ (the caller then
// asks json_loadb) or jansson ran out of memory (json_loadb will too, and say so).
struct builder {
	size_t flags;
	bool escapes; // the text holds a backslash: a string may hold a \u0000

	// jansson refuses a \u0000 in a string or key unless JSON_ALLOW_NUL; simdjson takes it.
	bool has_nul(std::string_view s) const
	{
		return escapes && std::memchr(s.data(), 0, s.size()) != nullptr;
	}

	json_t *object(dom::object o)
	{
		json_t *obj = json_object();
		if (!obj)
			return nullptr;
		for (dom::key_value_pair f : o) {
			const char *k = f.key.data();
			size_t n = f.key.size();
			size_t had = json_object_size(obj);
			if (has_nul(f.key))
				goto fail;
			json_t *v = value(f.value);
			if (!v || json_object_setn_new_nocheck(obj, k, n, v) < 0)
				goto fail;
			// a key set again leaves the size as it was: a duplicate, which json_loadb
			// refuses under JSON_REJECT_DUPLICATES; without it, the first key's place
			// and the last value, as json_loadb's own call to the same function leaves
			// them
			if ((flags & JSON_REJECT_DUPLICATES) && json_object_size(obj) == had)
				goto fail;
		}
		return obj;
	fail:
		json_decref(obj);
		return nullptr;
	}

	json_t *array(dom::array a)
	{
		json_t *arr = json_array();
		if (!arr)
			return nullptr;
		for (dom::element e : a) {
			json_t *v = value(e);
			if (!v || json_array_append_new(arr, v) < 0) {
				json_decref(arr);
				return nullptr;
			}
		}
		return arr;
	}

	// simdjson's kinds map onto jansson's as json_loadb reads the text: a number with no
	// fraction or exponent is INT64 (or UINT64, or an error, past int64; `-0` is INT64 0), any
	// other a double, correctly rounded by both; a real that overflows is an error in both.
	json_t *value(dom::element e)
	{
		switch (e.type()) {
		case dom::element_type::OBJECT:
			return object(e.get_object().value_unsafe());
		case dom::element_type::ARRAY:
			return array(e.get_array().value_unsafe());
		case dom::element_type::STRING: {
			std::string_view s = e.get_string().value_unsafe();
			return has_nul(s) ? nullptr : json_stringn_nocheck(s.data(), s.size());
		}
		case dom::element_type::INT64:
			return json_integer(e.get_int64().value_unsafe());
		case dom::element_type::UINT64: // past int64: jansson says "too big integer"
			return nullptr;
		case dom::element_type::DOUBLE:
			return json_real(e.get_double().value_unsafe());
		case dom::element_type::BOOL:
			return json_boolean(e.get_bool().value_unsafe());
		case dom::element_type::NULL_VALUE:
			return json_null();
		}
		return nullptr;
	}
};

json_t *fast_parse(const char *text, size_t len, size_t flags)
{
	// a byte order mark: json_loadb refuses it, and a later simdjson may skip it
	if (len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		return nullptr;
	dom::element root;
	if (parser.parse(text, len).get(root) != simdjson::SUCCESS) // copied with padding
		return nullptr;
	if (!(flags & JSON_DECODE_ANY) && !root.is_object() && !root.is_array())
		return nullptr; // json_loadb: "'[' or '{' expected"
	builder b{flags, std::memchr(text, '\\', len) != nullptr};
	return b.value(root);
}

} // namespace

extern "C" json_t *mp_json_parse(const char *text, size_t len, size_t flags, json_error_t *err)
{
	json_t *root = nullptr;
	if (text && len <= MP_JSON_FAST_MAX &&
	    !(flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY))) {
		try {
			root = fast_parse(text, len, flags);
		} catch (...) { // none expected (error codes throughout); never into C
			root = nullptr;
		}
	}
	if (!root) {
		counts.fallback++;
		return json_loadb(text, len, flags, err);
	}
	counts.fast++;
	if (err) { // what json_loadb leaves on success: no error, and the whole text read
		err->text[0] = '\0';
		std::snprintf(err->source, sizeof(err->source), "%s", "<buffer>");
		err->line = -1;
		err->column = -1;
		err->position = (int)len;
	}
	return root;
}

extern "C" mp_json_parse_counts mp_json_parse_counted(void)
{
	return counts;
}
