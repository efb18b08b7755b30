/* snapshot.c: building the shell's snapshots: the model shared or opened, the bundle as last
 * read, and the session as one in-memory policy file (see snapshot.h for the design,
 * docs/repl.md for what the user sees). */
#include "snapshot.h"
#include "alloc.h"
#include "compile.h"
#include "policy.h"

#include <stdlib.h>
#include <string.h>

/* The session's policy unless one is typed: "shell", or the first of "shell-session",
 * "shell-session-2", ... that the bundle has no policy of (sessions saved into the bundle). */
#define DEFAULT_HEADER                                                                             \
	"policy \"%s\" { version = \"0.0.0\", kind = \"custom\", "                                 \
	"description = \"declarations typed in meshpol repl\" }"

/* What the shell keeps of the bundle last read from disk (its files stay in the snapshot's
 * bundle, which the next session rebuild takes them from). */
typedef struct {
	char policy[32]; /* the session's default policy name: one the bundle does not have */
	mp_snap_base_decl *decls;
	uint32_t ndecls;
} base_copy;

struct mp_snap {
	base_copy *base;
	mp_snap_chunks chunks;
	char file[32]; /* the session file's name */
};

/* --- small helpers --- */

static char *dup_or_empty(const char *s)
{
	return mp_strdup(s ? s : "");
}

static void base_free(base_copy *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; i < b->ndecls; i++) {
		mp_free(b->decls[i].type);
		mp_free(b->decls[i].name);
		mp_free(b->decls[i].policy);
		mp_free(b->decls[i].loc);
	}
	mp_free(b->decls);
	mp_free(b);
}

static const char *rule_word(uint32_t t)
{
	static const char *const words[] = {"allow", "deny", "residency", "require_mtls",
	                                    "declared_routes_only"};
	return t < 5 ? words[t] : "?";
}

static int add_decl(base_copy *c, const char *type, const char *name, const char *policy,
                    const char *loc)
{
	mp_snap_base_decl *d = &c->decls[c->ndecls];
	d->type = mp_strdup(type);
	d->name = dup_or_empty(name);
	d->policy = dup_or_empty(policy);
	d->loc = dup_or_empty(loc);
	c->ndecls++;
	return d->type && d->name && d->policy && d->loc ? 0 : -1;
}

/* Copies what later rebuilds need of a bundle loaded from disk. NULL when out of memory. */
static base_copy *base_capture(const mp_bundle *b)
{
	base_copy *c = mp_calloc(1, sizeof(*c));
	int bad = !c;
	if (bad)
		return NULL;
	for (int k = 0; k < 100; k++) { /* "shell", "shell-session", "shell-session-2", ... */
		uint32_t i;
		if (k < 2)
			snprintf(c->policy, sizeof(c->policy), "%s", k ? "shell-session" : "shell");
		else
			snprintf(c->policy, sizeof(c->policy), "shell-session-%d", k);
		for (i = 0; i < b->npolicies && strcmp(b->policies[i].name, c->policy); i++)
			;
		if (i == b->npolicies)
			break;
	}
	c->decls = mp_calloc(b->nrules + b->nroles + b->nchecks + 1, sizeof(mp_snap_base_decl));
	for (uint32_t i = 0; c->decls && i < b->nrules; i++) {
		const mp_rule *r = &b->rules[i];
		if (!r->via) /* role grants are declared by their role */
			bad |= add_decl(c, rule_word(r->type), r->name, b->policies[r->policy].name,
			                r->loc) < 0;
	}
	for (uint32_t i = 0; c->decls && i < b->nroles; i++)
		bad |= add_decl(c, "role", b->roles[i].name, b->policies[b->roles[i].policy].name,
		                b->roles[i].loc) < 0;
	for (uint32_t i = 0; c->decls && i < b->nchecks; i++)
		bad |= add_decl(c, "check", b->checks[i].name,
		                b->policies[b->checks[i].policy].name, b->checks[i].loc) < 0;
	if (bad || !c->decls) {
		base_free(c);
		return NULL;
	}
	return c;
}

/* --- the session --- */

mp_snap *mp_snap_new(void)
{
	mp_snap *s = mp_calloc(1, sizeof(*s));
	if (s)
		snprintf(s->file, sizeof(s->file), "shell.lua");
	return s;
}

void mp_snap_chunk_free(mp_snap_chunk *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->ndecls; i++) {
		mp_free(c->decls[i].type);
		mp_free(c->decls[i].name);
	}
	mp_free(c->decls);
	mp_free(c->text);
	mp_free(c);
}

void mp_snap_chunks_free(mp_snap_chunks *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		mp_snap_chunk_free(c->v[i]);
	mp_free(c->v);
	memset(c, 0, sizeof(*c));
}

void mp_snap_free(mp_snap *s)
{
	if (!s)
		return;
	base_free(s->base);
	mp_snap_chunks_free(&s->chunks);
	mp_free(s);
}

static int chunks_append(mp_snap_chunks *l, mp_snap_chunk *c)
{
	if (l->n == l->cap) {
		uint32_t ncap = l->cap ? l->cap * 2 : 8;
		mp_snap_chunk **nv = mp_realloc(l->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = c;
	return 0;
}

int mp_snap_push(mp_snap *s, const char *text, size_t len, const mp_snap_decl *decls,
                 uint32_t ndecls)
{
	mp_snap_chunk *c = mp_calloc(1, sizeof(*c));
	if (!c)
		return -1;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--; /* chunks are joined with one newline each */
	c->text = mp_strndup(text, len);
	c->len = len;
	c->decls = mp_calloc(ndecls + 1, sizeof(mp_snap_decl));
	int bad = !c->text || !c->decls;
	for (uint32_t i = 0; !bad && i < ndecls; i++) {
		c->decls[i].type = mp_strdup(decls[i].type);
		c->decls[i].name = mp_strdup(decls[i].name);
		c->ndecls++;
		bad |= !c->decls[i].type || !c->decls[i].name;
	}
	if (bad || chunks_append(&s->chunks, c) < 0) {
		mp_snap_chunk_free(c);
		return -1;
	}
	return 0;
}

mp_snap_chunk *mp_snap_pop(mp_snap *s)
{
	return s->chunks.n ? s->chunks.v[--s->chunks.n] : NULL;
}

void mp_snap_unpop(mp_snap *s, mp_snap_chunk *c)
{
	if (chunks_append(&s->chunks, c) < 0)
		mp_snap_chunk_free(c); /* only after a pop, so there is room: never happens */
}

void mp_snap_take_all(mp_snap *s, mp_snap_chunks *saved)
{
	*saved = s->chunks;
	memset(&s->chunks, 0, sizeof(s->chunks));
}

void mp_snap_give_back(mp_snap *s, mp_snap_chunks *saved)
{
	mp_snap_chunks_free(&s->chunks);
	s->chunks = *saved;
	memset(saved, 0, sizeof(*saved));
}

uint32_t mp_snap_nchunks(const mp_snap *s)
{
	return s->chunks.n;
}

const mp_snap_chunk *mp_snap_chunk_at(const mp_snap *s, uint32_t i)
{
	return i < s->chunks.n ? s->chunks.v[i] : NULL;
}

const mp_snap_chunk *mp_snap_last(const mp_snap *s)
{
	return s->chunks.n ? s->chunks.v[s->chunks.n - 1] : NULL;
}

static int declares(const mp_snap_chunk *c, const char *type)
{
	for (uint32_t i = 0; i < c->ndecls; i++)
		if (!strcmp(c->decls[i].type, type))
			return (int)i;
	return -1;
}

/* The chunk holding the session's policy declaration: the last one that declares a policy. */
static long header_index(const mp_snap *s)
{
	for (uint32_t i = s->chunks.n; i-- > 0;)
		if (declares(s->chunks.v[i], "policy") >= 0)
			return (long)i;
	return -1;
}

static const char *default_policy(const mp_snap *s)
{
	return s->base ? s->base->policy : "shell";
}

/* The session file's first line when no policy was typed. */
static void default_header(const mp_snap *s, char *buf, size_t len)
{
	snprintf(buf, len, DEFAULT_HEADER, default_policy(s));
}

const char *mp_snap_policy(const mp_snap *s)
{
	long h = header_index(s);
	if (h < 0)
		return default_policy(s);
	const mp_snap_chunk *c = s->chunks.v[h];
	return c->decls[declares(c, "policy")].name;
}

const char *mp_snap_file(const mp_snap *s)
{
	return s->file;
}

/* The chunks of the session file in order: the header first (NULL: the default one), then
 * every chunk that does not declare a policy. Returns the count; order is mp_malloc'd. */
static uint32_t compose(const mp_snap *s, const mp_snap_chunk ***order)
{
	long h = header_index(s);
	const mp_snap_chunk **o = mp_calloc(s->chunks.n + 2, sizeof(*o));
	uint32_t n = 0;
	if (!o) {
		*order = NULL;
		return 0;
	}
	o[n++] = h >= 0 ? s->chunks.v[h] : NULL;
	for (uint32_t i = 0; i < s->chunks.n; i++)
		if ((long)i != h && declares(s->chunks.v[i], "policy") < 0)
			o[n++] = s->chunks.v[i];
	*order = o;
	return n;
}

static uint32_t count_lines(const char *text, size_t len)
{
	uint32_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	return n;
}

uint32_t mp_snap_line(const mp_snap *s, const mp_snap_chunk *c)
{
	const mp_snap_chunk **o;
	uint32_t n = compose(s, &o), line = 1, found = 0;
	for (uint32_t i = 0; i < n && !found; i++) {
		if (o[i] == c)
			found = line;
		line += o[i] ? count_lines(o[i]->text, o[i]->len) : 1;
	}
	mp_free(o);
	return found;
}

int mp_snap_write(const mp_snap *s, FILE *f, int numbered)
{
	const mp_snap_chunk **o;
	char header[256];
	uint32_t n = compose(s, &o), line = 1;
	default_header(s, header, sizeof(header));
	for (uint32_t i = 0; i < n; i++) {
		const char *text = o[i] ? o[i]->text : header;
		size_t len = o[i] ? o[i]->len : strlen(header);
		if (numbered)
			fprintf(f, "%4u  ", line);
		for (size_t k = 0; k < len; k++) {
			fputc(text[k], f);
			if (text[k] == '\n' && numbered)
				fprintf(f, "%4u  ", ++line);
		}
		fputc('\n', f);
		line++;
	}
	mp_free(o);
	return ferror(f) ? -1 : 0;
}

/* The name of the session file: "shell.lua", unless the bundle directory (as b read it) has a
 * file or directory of that name at its top. */
static void name_session_file(mp_snap *s, const mp_bundle *b)
{
	snprintf(s->file, sizeof(s->file), "shell.lua");
	for (uint32_t i = 0; b && i < b->nfiles; i++) {
		const char *rel = b->files[i].rel;
		size_t n = strlen("shell.lua");
		if (b->files[i].in_memory < 0 && !strncmp(rel, "shell.lua", n) &&
		    (rel[n] == '\0' || rel[n] == '/'))
			snprintf(s->file, sizeof(s->file), "shell-session.lua");
	}
}

/* The bundle with the session: the directory's files as files_of read them (none without
 * it), the session file in memory, and every replaceable declaration of the session replacing
 * the bundle's of that type and name, and an earlier chunk's: a skip from the first line of
 * the chunk that declares it. */
static mp_bundle *load_session(mp_snap *s, const mp_bundle *files_of, const mp_model *m,
                               mp_diags *d)
{
	const mp_snap_chunk **o = NULL;
	mp_bundle_skip *skips = NULL;
	mp_bundle *b = NULL;
	char *text = NULL; /* from open_memstream: the C library's free() */
	size_t len = 0;
	uint32_t n = compose(s, &o), nskips = 0, ndecls = 0, line = 1;
	FILE *f = open_memstream(&text, &len);
	for (uint32_t i = 0; i < n; i++)
		ndecls += o[i] ? o[i]->ndecls : 0;
	skips = mp_calloc(ndecls + 1, sizeof(*skips));
	int bad = !o || !f || !skips;
	bad |= f && mp_snap_write(s, f, 0) < 0; /* the text :session shows and saves */
	bad |= f && fclose(f) != 0;
	if (bad) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t k = 0; o[i] && k < o[i]->ndecls; k++)
			if (mp_bundle_replaceable(o[i]->decls[k].type))
				skips[nskips++] = (mp_bundle_skip){o[i]->decls[k].type,
				                                   o[i]->decls[k].name, 0, line};
		line += o[i] ? count_lines(o[i]->text, o[i]->len) : 1;
	}
	mp_bundle_text file = {s->file, text, len};
	mp_bundle_source src = {.dir = files_of ? files_of->dir : NULL,
	                        .files_of = files_of,
	                        .files = &file,
	                        .nfiles = 1,
	                        .skips = skips,
	                        .nskips = nskips,
	                        .revision_suffix = "+shell",
	                        .name = "shell",
	                        .revision = "0+shell"};
	b = mp_bundle_load_source(&src, m, NULL, d);
out:
	free(text);
	mp_free(skips);
	mp_free(o);
	return b;
}

mp_engine *mp_snap_build(mp_snap *s, const mp_snap_spec *sp, mp_diags *d)
{
	mp_model *m = NULL;
	mp_bundle *disk = NULL, *b = NULL;
	base_copy *fresh = NULL;
	int session = s->chunks.n > 0;
	const mp_bundle *cur = sp->current ? sp->current->bundle : NULL;
	const mp_bundle *files_of = NULL; /* the bundle directory's files as last read */

	if (sp->model_path)
		m = mp_model_open(sp->model_path, d);
	else if (sp->current)
		m = mp_model_retain(sp->current->model);
	else
		mp_diags_error(d, NULL, 0, 0, "no model is loaded (load one with :mesh MODEL)");
	if (!m)
		goto fail;
	if (sp->bundle_dir && session && !sp->reread && s->base && cur && cur->dir &&
	    !strcmp(cur->dir, sp->bundle_dir)) {
		files_of = cur; /* never read again silently */
	} else if (sp->bundle_dir) {
		if (!(disk = mp_bundle_load(sp->bundle_dir, m, NULL, d)))
			goto fail;
		if (session && !(fresh = base_capture(disk))) {
			mp_diags_error(d, NULL, 0, 0, "out of memory");
			goto fail;
		}
		files_of = disk;
	}
	if (!session) {
		b = disk;
		disk = NULL;
	} else {
		name_session_file(s, files_of);
		if (!(b = load_session(s, files_of, m, d)))
			goto fail;
	}
	mp_bundle_free(disk);
	disk = NULL;
	if (!session || fresh || !sp->bundle_dir) {
		/* what later session rebuilds report replacements from (made again when it failed)
		 */
		base_free(s->base);
		s->base = fresh ? fresh : !session && sp->bundle_dir ? base_capture(b) : NULL;
		fresh = NULL;
	}
	mp_engine *e = mp_engine_new(m, b); /* takes both, releases both on failure */
	if (!e)
		mp_diags_error(d, NULL, 0, 0, "out of memory");
	return e;
fail:
	mp_bundle_free(b);
	mp_bundle_free(disk);
	mp_model_free(m);
	base_free(fresh);
	return NULL;
}

uint32_t mp_snap_base_find(const mp_snap *s, const char *type, const char *name,
                           const mp_snap_base_decl **out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t i = 0; s->base && i < s->base->ndecls; i++) {
		const mp_snap_base_decl *d = &s->base->decls[i];
		if (!strcmp(d->type, type) && !strcmp(d->name, name) &&
		    mp_bundle_replaceable(type)) {
			if (n < max)
				out[n] = d;
			n++;
		}
	}
	return n;
}
