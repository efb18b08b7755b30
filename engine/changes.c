/* changes.c: comparing decisions, and the report of those that change (changes.h): grouping
 * and the text, json and markdown writers, one row each in writers[]. Shared by the diff
 * (diff.c), the replay of a decision log (replay.c) and the server's shadow bundle. Design:
 * docs/bundles-diff.md ("Reports"). */
#include "changes.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/* --- comparing --- */

typedef struct {
	const char *policy, *rule;
} cited;

static int cmp_cited(const void *a, const void *b)
{
	const cited *x = a, *y = b;
	int c = strcmp(x->policy, y->policy);
	return c ? c : strcmp(x->rule, y->rule);
}

/* The rules d's reasons cite, sorted, each once; returns how many. */
static uint32_t cite(const mp_engine *e, const mp_decision *d, cited out[MP_MAX_REASONS])
{
	uint32_t n = 0;
	char buf[160];
	for (uint32_t i = 0; i < d->nreasons && i < MP_MAX_REASONS; i++) {
		mp_reason_text t;
		mp_decision_reason(e, d, 0, i, &t, buf, sizeof(buf));
		out[n].policy = t.policy ? t.policy : "";
		out[n].rule = t.rule ? t.rule : "";
		n++;
	}
	qsort(out, n, sizeof(*out), cmp_cited);
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (k == 0 || cmp_cited(&out[k - 1], &out[i]))
			out[k++] = out[i];
	return k;
}

int mp_decision_same(const mp_engine *a, const mp_decision *da, const mp_engine *b,
                     const mp_decision *db)
{
	cited x[MP_MAX_REASONS], y[MP_MAX_REASONS];
	if (da->effect != db->effect)
		return 0;
	uint32_t nx = cite(a, da, x), ny = cite(b, db, y);
	if (nx != ny)
		return 0;
	for (uint32_t i = 0; i < nx; i++)
		if (cmp_cited(&x[i], &y[i]))
			return 0;
	return 1;
}

static json_t *summary(const char *effect, json_t *rules)
{
	return json_pack("{s:s, s:o}", "effect", effect, "rules", rules);
}

json_t *mp_decision_summary(const mp_engine *e, const mp_decision *d)
{
	cited c[MP_MAX_REASONS];
	uint32_t n = cite(e, d, c);
	json_t *rules = json_array();
	for (uint32_t i = 0; rules && i < n; i++) {
		char *s = mp_malloc(strlen(c[i].policy) + strlen(c[i].rule) + 2);
		if (s) {
			sprintf(s, "%s/%s", c[i].policy, c[i].rule);
			json_array_append_new(rules, json_string(s));
		}
		mp_free(s);
	}
	return summary(mp_effect_name(d->effect), rules);
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

json_t *mp_decision_summary_of_output(json_t *output)
{
	const char *effect = json_string_value(json_object_get(output, "effect"));
	json_t *reasons = json_object_get(output, "reasons"), *r;
	size_t i;
	if (!effect || (reasons && !json_is_array(reasons)))
		return NULL;
	json_t *tmp = json_array(), *rules = json_array();
	json_array_foreach(reasons, i, r)
	{
		const char *p = json_string_value(json_object_get(r, "policy"));
		const char *n = json_string_value(json_object_get(r, "rule"));
		char *s = mp_malloc(strlen(p ? p : "") + strlen(n ? n : "") + 2);
		if (s) {
			sprintf(s, "%s/%s", p ? p : "", n ? n : "");
			json_array_append_new(tmp, json_string(s));
		}
		mp_free(s);
	}
	size_t n = json_array_size(tmp);
	json_t **v = mp_calloc(n + 1, sizeof(*v));
	for (i = 0; v && i < n; i++)
		v[i] = json_array_get(tmp, i);
	if (v)
		qsort(v, n, sizeof(*v), cmp_json_str);
	for (i = 0; v && i < n; i++)
		if (i == 0 || strcmp(json_string_value(v[i - 1]), json_string_value(v[i])))
			json_array_append(rules, v[i]);
	mp_free(v);
	json_decref(tmp);
	return summary(effect, rules);
}

/* --- grouping --- */

/* The rules in a's list and not in b's (both sorted). */
static json_t *only_in(json_t *a, json_t *b)
{
	json_t *out = json_array(), *x;
	size_t i;
	json_array_foreach(a, i, x)
	{
		size_t j, found = 0;
		json_t *y;
		json_array_foreach(b, j, y) found |= json_equal(x, y);
		if (!found)
			json_array_append(out, x);
	}
	return out;
}

static void bump(json_t *o, const char *key)
{
	json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + 1));
}

static int cmp_obj_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The members of obj as an array, in the order of their keys. */
static json_t *sorted_values(json_t *obj)
{
	size_t n = json_object_size(obj), k = 0;
	const char **keys = mp_calloc(n + 1, sizeof(*keys));
	const char *key;
	json_t *v, *out = json_array();
	json_object_foreach(obj, key, v)
	{
		if (keys)
			keys[k++] = key;
	}
	if (keys)
		qsort(keys, k, sizeof(*keys), cmp_obj_keys);
	for (size_t i = 0; keys && i < k; i++)
		json_array_append(out, json_object_get(obj, keys[i]));
	mp_free(keys);
	return out;
}

void mp_changes_group(json_t *report, unsigned max_examples)
{
	json_t *changes = json_object_get(report, "changes"), *c;
	json_t *groups = json_object(), *rules = json_object();
	size_t i;
	json_array_foreach(changes, i, c)
	{
		json_t *b = json_object_get(c, "base"), *h = json_object_get(c, "head");
		json_t *br = json_object_get(b, "rules"), *hr = json_object_get(h, "rules");
		json_t *added = only_in(hr, br), *dropped = only_in(br, hr);
		const char *dest = json_string_value(json_object_get(c, "destination"));
		const char *from = json_string_value(json_object_get(b, "effect"));
		const char *to = json_string_value(json_object_get(h, "effect"));
		char *a = json_dumps(added, JSON_COMPACT), *dr = json_dumps(dropped, JSON_COMPACT);
		size_t len = strlen(dest ? dest : "") + strlen(from ? from : "") +
		             strlen(to ? to : "") + strlen(a ? a : "") + strlen(dr ? dr : "") + 8;
		char *key = mp_malloc(len);
		if (key) {
			snprintf(key, len, "%s\x1f%s\x1f%s\x1f%s\x1f%s", dest ? dest : "",
			         from ? from : "", to ? to : "", a ? a : "", dr ? dr : "");
			json_t *g = json_object_get(groups, key);
			if (!g) {
				g = json_pack("{s:s, s:s, s:s, s:O, s:O, s:i, s:[]}", "destination",
				              dest ? dest : "", "from", from ? from : "", "to",
				              to ? to : "", "added", added, "dropped", dropped,
				              "count", 0, "examples");
				json_object_set_new(groups, key, g);
			}
			bump(g, "count");
			json_t *ex = json_object_get(g, "examples");
			if (json_array_size(ex) < max_examples)
				json_array_append_new(ex, json_integer((json_int_t)i));
		}
		json_t *r;
		size_t k;
		json_array_foreach(added, k, r)
		{
			const char *name = json_string_value(r);
			if (!json_object_get(rules, name))
				json_object_set_new(rules, name,
				                    json_pack("{s:s, s:i, s:i}", "rule", name,
				                              "added", 0, "dropped", 0));
			bump(json_object_get(rules, name), "added");
		}
		json_array_foreach(dropped, k, r)
		{
			const char *name = json_string_value(r);
			if (!json_object_get(rules, name))
				json_object_set_new(rules, name,
				                    json_pack("{s:s, s:i, s:i}", "rule", name,
				                              "added", 0, "dropped", 0));
			bump(json_object_get(rules, name), "dropped");
		}
		mp_free(key);
		free(a);
		free(dr);
		json_decref(added);
		json_decref(dropped);
	}
	json_object_set_new(report, "groups", sorted_values(groups));
	json_object_set_new(report, "rules", sorted_values(rules));
	json_decref(groups);
	json_decref(rules);
}

/* --- writers --- */

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void side_line(FILE *f, const char *name, json_t *side)
{
	json_t *b = json_object_get(side, "bundle"), *m = json_object_get(side, "model");
	fprintf(f, "%s: %s", name, str(side, "source"));
	if (b)
		fprintf(f, " (bundle %s %s, sha256 %.12s)", str(b, "name"), str(b, "revision"),
		        str(b, "sha256"));
	if (m)
		fprintf(f, " (model %s%ssha256 %.12s)", str(m, "source"),
		        *str(m, "source") ? ", " : "", str(m, "sha256"));
	fputc('\n', f);
}

/* "+ a, - b" for a group's rules into f; "no rule" when none differs. */
static void rules_text(FILE *f, json_t *g)
{
	json_t *r;
	size_t i, n = 0;
	json_array_foreach(json_object_get(g, "added"), i, r)
	{
		fprintf(f, "%s+ %s", n++ ? ", " : "", json_string_value(r));
	}
	json_array_foreach(json_object_get(g, "dropped"), i, r)
	{
		fprintf(f, "%s- %s", n++ ? ", " : "", json_string_value(r));
	}
	if (!n)
		fputs("the same rules", f);
}

static void example_text(FILE *f, json_t *c)
{
	fprintf(f, "%s %s", str(c, "caller"), str(c, "request"));
	if (json_object_get(c, "line"))
		fprintf(f, " (line %lld)", num(c, "line"));
}

static int write_text(json_t *rep, FILE *f)
{
	const char *kind = str(rep, "kind");
	json_t *g, *x;
	size_t i, k;
	fprintf(f, "meshpol %s: %s -> %s\n", kind, str(json_object_get(rep, "base"), "source"),
	        str(json_object_get(rep, "head"), "source"));
	side_line(f, "base", json_object_get(rep, "base"));
	side_line(f, "head", json_object_get(rep, "head"));
	fprintf(f, "%lld decisions compared, %lld changed\n", num(rep, "decided"),
	        num(rep, "changed"));
	json_array_foreach(json_object_get(rep, "notes"), i, x)
	{
		fprintf(f, "note: %s\n", json_string_value(x));
	}
	const char *dest = NULL;
	json_array_foreach(json_object_get(rep, "groups"), i, g)
	{
		if (!dest || strcmp(dest, str(g, "destination"))) {
			dest = str(g, "destination");
			fprintf(f, "\n%s\n", dest);
		}
		fprintf(f, "  %s -> %s (", str(g, "from"), str(g, "to"));
		rules_text(f, g);
		fprintf(f, "): %lld\n", num(g, "count"));
		json_array_foreach(json_object_get(g, "examples"), k, x)
		{
			fputs("    ", f);
			example_text(f, json_array_get(json_object_get(rep, "changes"),
			                               (size_t)json_integer_value(x)));
			fputc('\n', f);
		}
	}
	if (json_array_size(json_object_get(rep, "rules")))
		fputs("\nrules\n", f);
	json_array_foreach(json_object_get(rep, "rules"), i, x)
	{
		fprintf(f, "  %s: added to %lld, dropped from %lld\n", str(x, "rule"),
		        num(x, "added"), num(x, "dropped"));
	}
	if (json_array_size(json_object_get(rep, "routes")))
		fputs("\nroutes\n", f);
	json_array_foreach(json_object_get(rep, "routes"), i, x)
	{
		fprintf(f, "  %s -> %s: %lld of %lld changed\n", str(x, "route"), str(x, "target"),
		        num(x, "changed"), num(x, "classes"));
	}
	return 0;
}

static int write_json(json_t *rep, FILE *f)
{
	if (json_dumpf(rep, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
		return -1;
	fputc('\n', f);
	return 0;
}

/* Text for a table cell: '|' and '`' escaped, line breaks as spaces. */
static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' || *s == '`' || *s == '*' || *s == '_' || *s == '<' || *s == '>')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

static int write_markdown(json_t *rep, FILE *f)
{
	json_t *g, *x;
	size_t i, k;
	json_t *base = json_object_get(rep, "base"), *head = json_object_get(rep, "head");
	fprintf(f, "### meshpol %s: ", str(rep, "kind"));
	md_cell(f, str(base, "source"));
	fputs(" → ", f);
	md_cell(f, str(head, "source"));
	fprintf(f, "\n\n**%lld of %lld decisions change.**\n", num(rep, "changed"),
	        num(rep, "decided"));
	json_array_foreach(json_object_get(rep, "notes"), i, x)
	{
		fputs("\n> ", f);
		md_cell(f, json_string_value(x));
		fputc('\n', f);
	}
	if (json_array_size(json_object_get(rep, "groups"))) {
		fputs("\n| destination | change | rules | count | examples |\n"
		      "|---|---|---|---:|---|\n",
		      f);
		json_array_foreach(json_object_get(rep, "groups"), i, g)
		{
			fputs("| ", f);
			md_cell(f, str(g, "destination"));
			fprintf(f, " | %s → %s | ", str(g, "from"), str(g, "to"));
			char *buf = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&buf, &len);
			if (m) {
				rules_text(m, g);
				fclose(m);
				md_cell(f, buf ? buf : "");
			}
			free(buf);
			fprintf(f, " | %lld | ", num(g, "count"));
			json_array_foreach(json_object_get(g, "examples"), k, x)
			{
				buf = NULL;
				len = 0;
				m = open_memstream(&buf, &len);
				if (m) {
					example_text(m,
					             json_array_get(json_object_get(rep, "changes"),
					                            (size_t)json_integer_value(x)));
					fclose(m);
					fputs(k ? "<br>" : "", f);
					md_cell(f, buf ? buf : "");
				}
				free(buf);
			}
			fputs(" |\n", f);
		}
	}
	if (json_array_size(json_object_get(rep, "routes"))) {
		fputs("\n| route | target | changed |\n|---|---|---:|\n", f);
		json_array_foreach(json_object_get(rep, "routes"), i, x)
		{
			fputs("| ", f);
			md_cell(f, str(x, "route"));
			fputs(" | ", f);
			md_cell(f, str(x, "target"));
			fprintf(f, " | %lld of %lld |\n", num(x, "changed"), num(x, "classes"));
		}
	}
	fputs("\n<sub>base: ", f);
	md_cell(f, str(json_object_get(base, "bundle"), "sha256"));
	fputs(", head: ", f);
	md_cell(f, str(json_object_get(head, "bundle"), "sha256"));
	fputs("</sub>\n", f);
	return 0;
}

static const struct {
	const char *name;
	int (*write)(json_t *rep, FILE *f);
} writers[] = {
    {"text", write_text},
    {"json", write_json},
    {"markdown", write_markdown},
};
#define NWRITERS (sizeof(writers) / sizeof(writers[0]))

int mp_changes_format_known(const char *format)
{
	for (size_t i = 0; format && i < NWRITERS; i++)
		if (!strcmp(writers[i].name, format))
			return 1;
	return 0;
}

int mp_changes_write(json_t *report, const char *format, FILE *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < NWRITERS; i++)
		if (!strcmp(writers[i].name, format)) {
			if (writers[i].write(report, out) < 0 || ferror(out)) {
				snprintf(err, errlen, "writing the report failed");
				return -1;
			}
			return 0;
		}
	snprintf(err, errlen, "unknown format '%s' (text, json or markdown)", format);
	return -1;
}
