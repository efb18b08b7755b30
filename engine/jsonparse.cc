// jsonparse.cc: mp_json_parse, json_loadb's tree from simdjson's DOM (C++). Every exception is
// caught at the boundary, and every doubt goes to json_loadb. Design: jsonparse.h.
#include <simdjson.h>

#include <cstdio>
#include <cstring>

extern "C" {
#include "jsonparse.h"
#include "reqin.h"
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
	    r->dst_service && *r->dst_service)
		return true;
	for (size_t i = 0; i < in.nheld; i++)
		json_decref(held[i]);
	return false;
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

extern "C" int mp_request_parse(const char *text, size_t len, mp_request *r, mp_header *hbuf,
                                json_t *held[MP_REQUEST_HELD])
{
	bool ok = false;
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
