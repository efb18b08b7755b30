/* import_schema.c: a document's fields checked against a declarative table (im_field,
 * import_int.h), as the API server checks a custom resource against its CRD schema: unknown
 * fields (with the nearest valid name), wrong types, missing required fields and values outside
 * an enumeration, each an error at its node's file:line:col naming the field's path
 * ("spec.rules[0].matches[1].path.type"; from the top of a document checked with path "",
 * "mtls.backends[0].mode"). A provider declares one table per kind. */
#include "import_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_NAMES 48

typedef struct {
	mp_import *im;
	idoc *dc;
	int bad;
	im_unknown_fn unknown; /* NULL: an unknown field is an error */
	void *arg;
} sctx;

static int is_int(const yaml_node_t *n)
{
	const char *s = im_scalar(n);
	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s += *s == '-';
	if (!*s)
		return 0;
	while (isdigit((unsigned char)*s))
		s++;
	return !*s;
}

static int is_bool(const yaml_node_t *n)
{
	const char *s = im_scalar(n);
	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!strcmp(s, "true") || !strcmp(s, "false"));
}

static void check_value(sctx *c, yaml_node_t *v, const im_field *f, uint32_t type,
                        const char *path);

static void check_map(sctx *c, yaml_node_t *map, const im_field *fields, const char *path)
{
	const char *names[MAX_NAMES + 1];
	uint32_t n = 0;
	yaml_node_t *k, *v;
	for (const im_field *f = fields; f->name && n < MAX_NAMES; f++)
		names[n++] = f->name;
	names[n] = NULL;
	IM_MAP_FOREACH(c->dc, map, k, v)
	{
		const char *key = im_scalar(k);
		const im_field *f;
		for (f = fields; key && f->name && strcmp(f->name, key); f++)
			;
		if (key && !f->name && c->unknown) {
			char hint[300];
			c->unknown(c->im, c->dc, k, path,
			           mp_diag_hint(key, names, hint, sizeof(hint)), c->arg);
			continue;
		}
		if (!key || !f->name) {
			char q[80], hint[300];
			c->bad = im_error(c->im, c->dc, k, "%s%sunknown field '%s' (%s)", path,
			                  *path ? ": " : "",
			                  key ? mp_diag_quote(key, strlen(key), q, sizeof(q)) : "?",
			                  mp_diag_hint(key ? key : "", names, hint, sizeof(hint)));
			continue;
		}
		char sub[512];
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
		if (!im_is_null(v))
			check_value(c, v, f, f->type, sub);
	}
	for (const im_field *f = fields; f->name; f++)
		if (f->required &&
		    (!im_get(c->dc, map, f->name) || im_is_null(im_get(c->dc, map, f->name))))
			c->bad = im_error(c->im, c->dc, map, "%s%smissing required field '%s'",
			                  path, *path ? ": " : "", f->name);
}

static void wrong(sctx *c, yaml_node_t *v, const char *path, const char *want)
{
	c->bad = im_error(c->im, c->dc, v, "%s: must be %s, not %s", path, want, im_kind_of(v));
}

static void check_value(sctx *c, yaml_node_t *v, const im_field *f, uint32_t type, const char *path)
{
	yaml_node_t *item, *k, *val;
	switch (type) {
	case IM_T_STR:
		if (v->type != YAML_SCALAR_NODE)
			wrong(c, v, path, "a string");
		break;
	case IM_T_INT:
		if (!is_int(v))
			wrong(c, v, path, "an integer");
		break;
	case IM_T_BOOL:
		if (!is_bool(v))
			wrong(c, v, path, "true or false");
		break;
	case IM_T_INTSTR:
		if (v->type != YAML_SCALAR_NODE)
			wrong(c, v, path, "an integer or a string");
		break;
	case IM_T_ENUM: {
		const char *s = im_scalar(v);
		size_t i;
		if (v->type != YAML_SCALAR_NODE) {
			wrong(c, v, path, "a string");
			break;
		}
		for (i = 0; s && f->values[i] && strcmp(f->values[i], s); i++)
			;
		if (!s || !f->values[i]) {
			char q[80], hint[300];
			c->bad = im_error(c->im, c->dc, v, "%s: unknown value '%s' (%s)", path,
			                  s ? mp_diag_quote(s, strlen(s), q, sizeof(q)) : "",
			                  mp_diag_hint(s ? s : "", f->values, hint, sizeof(hint)));
		}
		break;
	}
	case IM_T_MAP:
		if (v->type != YAML_MAPPING_NODE)
			wrong(c, v, path, "a mapping");
		else
			check_map(c, v, f->fields, path);
		break;
	case IM_T_STRMAP:
		if (v->type != YAML_MAPPING_NODE) {
			wrong(c, v, path, "a mapping of strings");
			break;
		}
		IM_MAP_FOREACH(c->dc, v, k, val)
		{
			if (k->type != YAML_SCALAR_NODE || val->type != YAML_SCALAR_NODE) {
				wrong(c, val, path, "a mapping of strings");
				break;
			}
		}
		break;
	case IM_T_LIST: {
		uint32_t i = 0;
		if (v->type != YAML_SEQUENCE_NODE) {
			wrong(c, v, path, "a list");
			break;
		}
		IM_SEQ_FOREACH(c->dc, v, item)
		{
			char sub[512];
			snprintf(sub, sizeof(sub), "%s[%u]", path, i++);
			if (im_is_null(item))
				wrong(c, item, sub, f->fields ? "a mapping" : "a value");
			else if (f->fields)
				check_value(c, item, f, IM_T_MAP, sub);
			else
				check_value(c, item, f, f->item, sub);
		}
		break;
	}
	case IM_T_ANY:
	default:
		break;
	}
}

int im_check(mp_import *im, idoc *dc, yaml_node_t *map, const im_field *fields, const char *path)
{
	return im_check_preserving(im, dc, map, fields, path, NULL, NULL);
}

int im_check_preserving(mp_import *im, idoc *dc, yaml_node_t *map, const im_field *fields,
                        const char *path, im_unknown_fn unknown, void *arg)
{
	sctx c = {im, dc, 0, unknown, arg};
	if (!map)
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return im_error(im, dc, map, "%s: must be a mapping, not %s", path,
		                im_kind_of(map));
	check_map(&c, map, fields, path);
	return c.bad;
}
