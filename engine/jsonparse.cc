// jsonparse.cc: mp_json_parse, json_loadb's tree from simdjson's DOM (C++). Every exception is
// caught at the boundary, and every doubt goes to json_loadb. Design: jsonparse.h.
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

extern "C" {
// jsonbuf.h's inline initializer is C: a compound literal that names some of the fields
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "jsonparse.h"
#pragma GCC diagnostic pop
#include "reqin.h"

// alloc.h's allocator, declared here: that header needs C11's <stdatomic.h>, which C++17 lacks
void *mp_malloc(size_t n);
void *mp_realloc(void *p, size_t n);
void mp_free(void *p);
}

namespace
{

namespace dom = simdjson::dom;

// Allocates nothing until the first parse; freed when the thread ends.
thread_local dom::parser parser(MP_JSON_FAST_MAX);
thread_local mp_json_parse_counts counts;
// The document of the text the thread's last call of mp_request_parse read, while the parser
// still holds it: every call of mp_json_parse and mp_request_parse clears input_current first
// (mp_request_parsed_write).
thread_local dom::element input_root;
thread_local bool input_current;

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

// simdjson's DOM of text; false where json_loadb's answer could differ before any value is read.
bool parse_dom(const char *text, size_t len, dom::element &root)
{
	// a byte order mark: json_loadb refuses it, and a later simdjson may skip it
	if (len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		return false;
	return parser.parse(text, len).get(root) == simdjson::SUCCESS; // copied with padding
}

json_t *fast_parse(const char *text, size_t len, size_t flags)
{
	dom::element root;
	if (!parse_dom(text, len, root))
		return nullptr;
	if (!(flags & JSON_DECODE_ANY) && !root.is_object() && !root.is_array())
		return nullptr; // json_loadb: "'[' or '{' expected"
	builder b{flags, std::memchr(text, '\\', len) != nullptr};
	return b.value(root);
}

// The decision input read from the DOM through decide.c's tables (reqin.h): false wherever
// mp_request_from_json of json_loadb's tree could answer otherwise (an error, or a shape this
// reader leaves to the tree: request.auth, request.auth's lists), so the caller takes that path.
struct input_reader {
	mp_request *r;
	mp_header *hbuf;
	json_t **held;
	size_t nheld;
	builder b;

	bool string(dom::element e, const char **out) const
	{
		if (!e.is_string() || b.has_nul(e.get_string().value_unsafe()))
			return false;
		*out = e.get_c_str().value_unsafe(); // NUL-terminated in the document
		return true;
	}

	// source.labels, context (kept, field non-NULL) and request.auth.claims (checked only):
	// built as json_loadb would, duplicates and \u0000 refused by the builder
	bool tree(dom::element e, bool strings_only, void *field)
	{
		if (!e.is_object())
			return false;
		if (strings_only) {
			dom::object o = e.get_object().value_unsafe();
			for (dom::key_value_pair f : o)
				if (!f.value.is_string())
					return false;
		}
		json_t *v = b.value(e);
		if (!v)
			return false;
		if (!field) {
			json_decref(v);
			return true;
		}
		if (nheld == MP_REQUEST_HELD) {
			json_decref(v);
			return false;
		}
		held[nheld++] = v;
		*static_cast<json_t **>(field) = v;
		return true;
	}

	bool headers(dom::element e)
	{
		if (!e.is_object())
			return false;
		dom::object o = e.get_object().value_unsafe();
		uint32_t n = 0;
		for (auto it = o.begin(); it != o.end(); ++it) {
			std::string_view k = it.key();
			if (n == MP_REQUEST_MAX_HEADERS || b.has_nul(k) ||
			    !string(it.value(), &hbuf[n].value))
				return false;
			for (uint32_t i = 0; i < n; i++) // a duplicate name: json_loadb refuses it
				if (std::strlen(hbuf[i].name) == k.size() &&
				    std::memcmp(hbuf[i].name, k.data(), k.size()) == 0)
					return false;
			hbuf[n++].name = it.key_c_str();
		}
		r->headers = hbuf;
		r->nheaders = n;
		return true;
	}

	bool value(dom::element e, const mp_in_key *key)
	{
		void *field =
		    key->off == IN_NONE ? nullptr : reinterpret_cast<char *>(r) + key->off;
		if (e.is_null()) // absent
			return true;
		switch (key->type) {
		case IN_STRING: {
			const char *s;
			if (!string(e, &s))
				return false;
			if (field)
				*static_cast<const char **>(field) = s;
			return true;
		}
		case IN_PORT: {
			if (e.type() != dom::element_type::INT64)
				return false;
			int64_t v = e.get_int64().value_unsafe();
			if (v < 1 || v > 65535)
				return false;
			if (field)
				*static_cast<uint32_t *>(field) = static_cast<uint32_t>(v);
			return true;
		}
		case IN_BOOL:
			if (!e.is_bool())
				return false;
			if (field)
				*static_cast<int *>(field) = e.get_bool().value_unsafe();
			return true;
		case IN_STRMAP:
			return tree(e, true, field);
		case IN_ANY:
			return tree(e, false, field);
		case IN_HEADERS:
			return headers(e);
		case IN_OBJECT: // one kept as a tree of its own (request.auth) is the tree's
			return e.is_object() && !field &&
			       object(e.get_object().value_unsafe(), key->keys);
		case IN_STRINGS:
			return false;
		}
		return false;
	}

	bool object(dom::object o, const mp_in_key *keys)
	{
		uint32_t seen = 0; // a table has fewer than 32 keys
		for (auto it = o.begin(); it != o.end(); ++it) {
			std::string_view k = it.key();
			const mp_in_key *key =
			    b.has_nul(k) ? nullptr : mp_in_find(keys, k.data(), k.size());
			if (!key)
				return false;
			uint32_t bit = 1u << (key - keys);
			if (seen & bit) // a duplicate key
				return false;
			seen |= bit;
			if (!value(it.value(), key))
				return false;
		}
		return true;
	}
};

bool read_input(const char *text, size_t len, mp_request *r, mp_header *hbuf, json_t **held)
{
	dom::element root, dst;
	if (!parse_dom(text, len, root) || !root.is_object())
		return false;
	input_reader in{r, hbuf, held, 0,
	                builder{JSON_REJECT_DUPLICATES, std::memchr(text, '\\', len) != nullptr}};
	// what mp_request_from_json requires besides the keys: a destination and its service
	if (in.object(root.get_object().value_unsafe(), mp_in_keys) &&
	    root.at_key("destination").get(dst) == simdjson::SUCCESS && dst.is_object() &&
	    r->dst_service && *r->dst_service) {
		input_root = root;
		input_current = true;
		return true;
	}
	for (size_t i = 0; i < in.nheld; i++)
		json_decref(held[i]);
	return false;
}

// An object's member, for writing the members in key order.
struct member {
	const char *key; // NUL-terminated in the document, no NUL inside (mp_request_parse)
	size_t len;
	dom::element value;
};

static_assert(std::is_trivially_copyable<member>::value, "members are moved as bytes");

// strcmp's order (json_dumps's JSON_SORT_KEYS) of keys without a NUL inside. Most keys differ
// in their first byte (the NUL ending an empty key sorts it first, as strcmp does).
bool key_before(const member &a, const member &b)
{
	unsigned char x = static_cast<unsigned char>(a.key[0]);
	unsigned char y = static_cast<unsigned char>(b.key[0]);
	if (x != y)
		return x < y;
	int c = std::memcmp(a.key, b.key, a.len < b.len ? a.len : b.len);
	return c != 0 ? c < 0 : a.len < b.len;
}

// The document read back as json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes mp_json_parse's tree
// of the same text, the keys written by the caller's key writer. The members of the objects
// being written are kept in one array, a run per open object, sorted in place: indices, not
// pointers, across a nested object (which may move the array).
struct input_writer {
	mp_jsonbuf *b;
	mp_json_key_writer key;
	void *arg;
	member *m;
	size_t top, cap;
	bool heap;   // m is mp_malloc'd, else the caller's storage
	bool failed; // out of memory, or a value json_loadb would not have read

	bool push(const member &x)
	{
		if (top == cap) {
			size_t n = cap * 2;
			void *p = heap ? mp_realloc(m, n * sizeof(member))
			               : mp_malloc(n * sizeof(member));
			if (!p)
				return false;
			if (!heap)
				std::copy(m, m + top, static_cast<member *>(p));
			m = static_cast<member *>(p);
			cap = n;
			heap = true;
		}
		new (&m[top++]) member(x); // trivially copyable: the array's bytes are its own
		return true;
	}

	// depth: of the object's keys (0 the input's own; -1 below an array), the key writer's
	void object(dom::object o, int depth)
	{
		size_t base = top;
		for (dom::key_value_pair f : o)
			if (!push(member{f.key.data(), f.key.size(), f.value})) {
				failed = true;
				top = base;
				return;
			}
		if (top - base > 1)
			std::sort(m + base, m + top, key_before);
		MP_JSONBUF_LIT(b, "{");
		int first = 1;
		for (size_t i = base; i < top && !failed; i++) {
			member x = m[i];
			int r = key(b, arg, depth, x.key, x.len, first);
			if (r == MP_JSON_MEMBER_LEFT_OUT)
				continue;
			first = 0;
			if (r == MP_JSON_MEMBER_VALUE)
				value(x.value, depth < 0 ? -1 : depth + 1);
		}
		top = base;
		MP_JSONBUF_LIT(b, "}");
	}

	// A real as jansson prints it ("%.17g", a ".0" where it would read as an integer, the
	// exponent without '+' and leading zeros): by jansson itself, so the bytes are its own.
	void real(double v)
	{
		char text[64];
		json_t *r = json_real(v);
		size_t n =
		    r ? json_dumpb(r, text, sizeof(text), JSON_ENCODE_ANY | JSON_COMPACT) : 0;
		json_decref(r);
		if (n == 0 || n > sizeof(text)) {
			failed = true;
			return;
		}
		mp_jsonbuf_raw(b, text, n);
	}

	void value(dom::element e, int depth)
	{
		switch (e.type()) {
		case dom::element_type::OBJECT:
			object(e.get_object().value_unsafe(), depth);
			return;
		case dom::element_type::ARRAY: {
			dom::array a = e.get_array().value_unsafe();
			bool first = true;
			MP_JSONBUF_LIT(b, "[");
			for (dom::element x : a) {
				if (!first)
					MP_JSONBUF_LIT(b, ",");
				first = false;
				value(x, -1);
			}
			MP_JSONBUF_LIT(b, "]");
			return;
		}
		case dom::element_type::STRING: { // no NUL inside (mp_request_parse)
			std::string_view s = e.get_string().value_unsafe();
			mp_jsonbuf_string_n(b, s.data(), s.size());
			return;
		}
		case dom::element_type::INT64: { // the digits of "%" JSON_INTEGER_FORMAT
			int64_t i = e.get_int64().value_unsafe();
			if (i < 0)
				MP_JSONBUF_LIT(b, "-");
			mp_jsonbuf_uint(b, i < 0 ? (uint64_t) - (i + 1) + 1 : (uint64_t)i);
			return;
		}
		case dom::element_type::UINT64: // json_loadb refuses it: mp_request_parse too
			failed = true;
			return;
		case dom::element_type::DOUBLE:
			real(e.get_double().value_unsafe());
			return;
		case dom::element_type::BOOL:
			if (e.get_bool().value_unsafe())
				MP_JSONBUF_LIT(b, "true");
			else
				MP_JSONBUF_LIT(b, "false");
			return;
		case dom::element_type::NULL_VALUE:
			MP_JSONBUF_LIT(b, "null");
			return;
		}
		failed = true;
	}
};

} // namespace

extern "C" json_t *mp_json_parse(const char *text, size_t len, size_t flags, json_error_t *err)
{
	json_t *root = nullptr;
	input_current = false; // the parser's document is about to change
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

extern "C" int mp_request_parse(const char *text, size_t len, mp_request *r, mp_header *hbuf,
                                json_t *held[MP_REQUEST_HELD])
{
	bool ok = false;
	input_current = false; // the parser's document is about to change
	std::memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < MP_REQUEST_HELD; i++)
		held[i] = nullptr;
	if (text && len <= MP_JSON_FAST_MAX) {
		try {
			ok = read_input(text, len, r, hbuf, held);
		} catch (...) { // none expected (error codes throughout); never into C
			ok = false;
		}
	}
	if (!ok) {
		std::memset(r, 0, sizeof(*r));
		for (size_t i = 0; i < MP_REQUEST_HELD; i++)
			held[i] = nullptr;
		counts.input_refused++;
		return 0;
	}
	counts.input++;
	return 1;
}

extern "C" int mp_request_parsed_write(mp_jsonbuf *b, mp_json_key_writer key, void *arg)
{
	alignas(member) unsigned char storage[64 * sizeof(member)]; // raw: nothing to construct
	input_writer w{b, key, arg, reinterpret_cast<member *>(storage), 0, 64, false, false};
	if (!input_current) {
		b->oom = 1;
		return -1;
	}
	try {
		w.value(input_root, 0);
	} catch (...) { // none expected (error codes throughout); never into C
		w.failed = true;
	}
	if (w.heap)
		mp_free(w.m);
	if (w.failed)
		b->oom = 1;
	return b->oom ? -1 : 0;
}
