/* yamlload.c: building libyaml documents from parser events under meshpol's limits, YAML errors
 * as diagnostics, and the node helpers (yamlload.h). The limits and why: docs/architecture.md
 * ("Compiling"). */
#include "yamlload.h"
#include "alloc.h"
#include "files.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	uint32_t line, col; /* 1-based; 0 when unknown */
} text_pos;

static void errorf(mp_yaml_stream *s, text_pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errorf(mp_yaml_stream *s, text_pos at, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mp_diags_error(s->d, s->file, at.line, at.col, "%s", msg);
}

int mp_yaml_open(mp_yaml_stream *s, const char *file, const char *buf, size_t len, mp_diags *d)
{
	memset(s, 0, sizeof(*s));
	s->file = file;
	s->buf = buf;
	s->len = len;
	s->d = d;
	if (!yaml_parser_initialize(&s->parser))
		return -1;
	yaml_parser_set_input_string(&s->parser, (const unsigned char *)buf, len);
	return 0;
}

void mp_yaml_close(mp_yaml_stream *s)
{
	yaml_parser_delete(&s->parser);
}

static void yaml_error(mp_yaml_stream *s)
{
	const yaml_parser_t *p = &s->parser;
	const char *buf = s->buf;
	size_t len = s->len;
	const char *problem = p->problem ? p->problem : "malformed YAML";
	text_pos loc = {(uint32_t)p->problem_mark.line + 1, (uint32_t)p->problem_mark.column + 1};
	if (p->error == YAML_READER_ERROR) { /* reader errors carry only a byte offset */
		loc.line = loc.col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n')
				loc.line++, loc.col = 1;
			else if (((unsigned char)buf[i] & 0xc0) != 0x80)
				loc.col++;
		}
	}
	if (p->error == YAML_MEMORY_ERROR) {
		errorf(s, loc, "out of memory while parsing YAML");
	} else if (p->context) {
		errorf(s, loc, "YAML: %s (%s started at line %zu)", problem, p->context,
		       p->context_mark.line + 1);
	} else if (p->error == YAML_READER_ERROR) {
		errorf(s, loc, "YAML: %s (byte %zu; is this a text file?)", problem,
		       p->problem_offset);
	} else {
		errorf(s, loc, "YAML: %s", problem);
	}
}

/* Builds one document from parser events, as yaml_parser_load does, but refusing nesting deeper
 * than MAX_YAML_DEPTH: libyaml's scanner does work proportional to the depth for every token,
 * so unbounded nesting would take quadratic time. Anchors are registered when their node ends,
 * so an alias can never form a cycle.
 *
 * An alias shares its anchor's node, but every reader of the document (the decoder, the
 * importers' YAML->JSON) walks it once per use, so ten aliases to ten aliases... grow the work
 * tenfold per level (billion laughs). So each node's expanded size is kept: its source bytes,
 * plus what the aliases inside it add (an alias adds its anchor's expanded size less its own
 * bytes). The aliases of one file may add at most ALIAS_GROWTH_FACTOR times the file's size,
 * or ALIAS_GROWTH_MIN bytes when that is more, counted across its documents; and an alias may
 * not nest its anchor deeper than MAX_YAML_DEPTH. A node is at least a byte, so this bounds
 * the nodes as well as the text of the expanded file. Returns 1 with a document, 0 at the end
 * of the stream, -1 after reporting an error (the parser cannot go on after one). */
#define MAX_YAML_DEPTH      64
#define MAX_ANCHORS         1000
#define ALIAS_GROWTH_FACTOR 10
#define ALIAS_GROWTH_MIN    (1u << 20)

int mp_yaml_next(mp_yaml_stream *s, yaml_document_t *doc)
{
	struct {
		int id, key; /* key: a mapping's pending key node, 0 when none */
		char *anchor;
		size_t start;    /* source offset of the collection */
		uint64_t growth; /* what aliases inside it add */
		int height;      /* collections nested in it, aliases expanded */
	} stack[MAX_YAML_DEPTH];
	struct {
		char *name;
		int id, height;
		uint64_t size; /* expanded */
	} anchors[MAX_ANCHORS];
	int depth = 0, nanchors = 0, rc = -1, started = 0;
	uint64_t limit = ALIAS_GROWTH_FACTOR * (uint64_t)s->len;
	if (limit < ALIAS_GROWTH_MIN)
		limit = ALIAS_GROWTH_MIN;
	yaml_event_t ev;
	memset(doc, 0, sizeof(*doc));
	for (;;) {
		if (!yaml_parser_parse(&s->parser, &ev)) {
			yaml_error(s);
			goto out;
		}
		text_pos loc = {(uint32_t)ev.start_mark.line + 1,
		                (uint32_t)ev.start_mark.column + 1};
		int id = 0; /* a node completed by this event */
		char *anchor = NULL;
		uint64_t size = ev.end_mark.index - ev.start_mark.index, growth = 0;
		int height = 0; /* of the completed node */
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			rc = 0;
			yaml_event_delete(&ev);
			goto out;
		case YAML_DOCUMENT_START_EVENT:
			if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1))
				goto oom;
			started = 1;
			break;
		case YAML_DOCUMENT_END_EVENT:
			rc = 1;
			yaml_event_delete(&ev);
			goto out;
		case YAML_ALIAS_EVENT: {
			int i;
			for (i = 0;
			     i < nanchors && strcmp(anchors[i].name, (char *)ev.data.alias.anchor);
			     i++)
				;
			if (i == nanchors) {
				errorf(s, loc,
				       "YAML: alias '*%s' names no anchor defined before it",
				       (char *)ev.data.alias.anchor);
				goto fail_event;
			}
			id = anchors[i].id;
			height = anchors[i].height;
			growth = anchors[i].size > size ? anchors[i].size - size : 0;
			if (depth + height > MAX_YAML_DEPTH) {
				errorf(s, loc,
				       "YAML: alias '*%s' nests its anchor deeper than %d levels",
				       (char *)ev.data.alias.anchor, MAX_YAML_DEPTH);
				goto fail_event;
			}
			if (growth > limit - s->alias_growth) {
				errorf(
				    s, loc,
				    "YAML: alias '*%s' passes the alias expansion limit: the "
				    "aliases "
				    "of this file may add at most %llu bytes to it (%d times its "
				    "size, or %u MiB if more)",
				    (char *)ev.data.alias.anchor, (unsigned long long)limit,
				    ALIAS_GROWTH_FACTOR, ALIAS_GROWTH_MIN >> 20);
				goto fail_event;
			}
			s->alias_growth += growth;
			break;
		}
		case YAML_SCALAR_EVENT:
			id = yaml_document_add_scalar(doc, ev.data.scalar.tag, ev.data.scalar.value,
			                              (int)ev.data.scalar.length,
			                              ev.data.scalar.style);
			if (!id)
				goto oom;
			anchor = (char *)ev.data.scalar.anchor;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			if (depth == MAX_YAML_DEPTH) {
				errorf(s, loc, "YAML: nested deeper than %d levels",
				       MAX_YAML_DEPTH);
				goto fail_event;
			}
			int seq = ev.type == YAML_SEQUENCE_START_EVENT;
			int nid = seq ? yaml_document_add_sequence(doc, ev.data.sequence_start.tag,
			                                           YAML_ANY_SEQUENCE_STYLE)
			              : yaml_document_add_mapping(doc, ev.data.mapping_start.tag,
			                                          YAML_ANY_MAPPING_STYLE);
			if (!nid)
				goto oom;
			yaml_document_get_node(doc, nid)->start_mark = ev.start_mark;
			unsigned char *a =
			    seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
			stack[depth].anchor = a ? mp_strdup((char *)a) : NULL;
			if (a && !stack[depth].anchor)
				goto oom;
			stack[depth].id = nid;
			stack[depth].key = 0;
			stack[depth].start = ev.start_mark.index;
			stack[depth].growth = 0;
			stack[depth].height = 0;
			depth++;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			id = stack[depth].id;
			anchor = stack[depth].anchor; /* owned: freed below after registering */
			growth = stack[depth].growth;
			size = ev.end_mark.index - stack[depth].start + growth;
			height = stack[depth].height + 1;
			break;
		default:
			break;
		}
		if (id && ev.type == YAML_SCALAR_EVENT)
			yaml_document_get_node(doc, id)->start_mark = ev.start_mark;
		if (anchor) {
			if (nanchors == MAX_ANCHORS) {
				errorf(s, loc, "YAML: more than %d anchors in one document",
				       MAX_ANCHORS);
				if (ev.type != YAML_SCALAR_EVENT)
					mp_free(anchor);
				goto fail_event;
			}
			anchors[nanchors].name =
			    ev.type == YAML_SCALAR_EVENT ? mp_strdup(anchor) : anchor;
			if (!anchors[nanchors].name)
				goto oom;
			anchors[nanchors].height = height;
			anchors[nanchors].size = size;
			anchors[nanchors++].id = id;
		}
		if (id && depth > 0) {
			int parent = stack[depth - 1].id;
			stack[depth - 1].growth += growth;
			if (stack[depth - 1].height < height)
				stack[depth - 1].height = height;
			yaml_node_t *pn = yaml_document_get_node(doc, parent);
			int ok = 1;
			if (pn->type == YAML_SEQUENCE_NODE)
				ok = yaml_document_append_sequence_item(doc, parent, id);
			else if (!stack[depth - 1].key)
				stack[depth - 1].key = id;
			else {
				ok = yaml_document_append_mapping_pair(doc, parent,
				                                       stack[depth - 1].key, id);
				stack[depth - 1].key = 0;
			}
			if (!ok)
				goto oom;
		}
		yaml_event_delete(&ev);
	}
oom:
	errorf(s, (text_pos){0, 0}, "out of memory while parsing YAML");
	s->oom = 1;
fail_event:
	yaml_event_delete(&ev);
out:
	for (int i = 0; i < nanchors; i++)
		mp_free(anchors[i].name);
	while (rc != 1 && depth > 0)
		mp_free(stack[--depth].anchor);
	if (rc != 1 && started)
		yaml_document_delete(doc);
	return rc;
}

int mp_yaml_load_buf(const char *file, const char *buf, size_t len, yaml_document_t *doc,
                     mp_diags *d)
{
	mp_yaml_stream s;
	if (mp_yaml_open(&s, file, buf, len, d) < 0) {
		mp_diags_error(d, file, 0, 0, "out of memory");
		return -1;
	}
	int rc = mp_yaml_next(&s, doc);
	mp_yaml_close(&s);
	return rc;
}

int mp_yaml_load_file(const char *path, size_t max, yaml_document_t *doc, mp_diags *d)
{
	char *buf;
	size_t len;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (mp_files_check_inside(slash == path ? "/" : dir, path, NULL, d) < 0 ||
	    mp_files_read(path, max, &buf, &len, d) < 0)
		return -1;
	int rc = mp_yaml_load_buf(path, buf, len, doc, d);
	mp_free(buf);
	return rc;
}

/* --- nodes --- */

yaml_node_t *mp_yaml_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

int mp_yaml_is_null(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = (const char *)n->data.scalar.value;
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *mp_yaml_kind_of(const yaml_node_t *n)
{
	if (!n || mp_yaml_is_null(n))
		return "null";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}
