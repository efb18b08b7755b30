/* snapshot.c: building the shell's snapshots: model clones, bundle copies and the session file
 * (see snapshot.h for the design, docs/repl.md for what the user sees). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw */
#endif
#include "snapshot.h"
#include "alloc.h"
#include "compile.h"
#include "policy.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The session's policy unless one is typed: "shell", or "shell-session" when the bundle has a
 * policy "shell" already (a session saved and then added to the bundle, say). */
#define DEFAULT_HEADER                                                                             \
	"policy \"%s\" { version = \"0.0.0\", kind = \"custom\", "                                 \
	"description = \"declarations typed in meshpol repl\" }"

/* The DSL words a session declaration can replace, in the order of the prologue's locals. */
static const char *const replaceable[] = {
    "allow", "deny", "residency", "require_mtls", "declared_routes_only", "role", "check", NULL,
};

/* Defines __mp_dsl(skip) in the session file: it rebinds the DSL words of the file's
 * environment so that names in skip[word] are ignored (the tail call keeps file:line right). */
static const char session_prologue[] =
    "local __mp_words, __mp_type = {\"allow\", \"deny\", \"residency\", \"require_mtls\", "
    "\"declared_routes_only\", \"role\", \"check\"}, type; local __mp_orig = {}; "
    "for _, w in ipairs(__mp_words) do __mp_orig[w] = _ENV[w] end; "
    "local function __mp_dsl(skip) for _, w in ipairs(__mp_words) do "
    "local f, s = __mp_orig[w], skip[w]; _ENV[w] = s and function(x) "
    "if __mp_type(x) == \"string\" and s[x] then return function() end end return f(x) end "
    "or f end end; ";

/* The same for a policy file of the bundle, as locals of the file, in one statement. */
static const char file_prologue_head[] =
    "local allow, deny, residency, require_mtls, declared_routes_only, role, check = "
    "(function(skip, ...) local words, fns, out = {\"allow\", \"deny\", \"residency\", "
    "\"require_mtls\", \"declared_routes_only\", \"role\", \"check\"}, {...}, {} "
    "for i = 1, #words do local f, s = fns[i], skip[words[i]]; out[i] = s and function(x) "
    "if type(x) == \"string\" and s[x] then return function() end end return f(x) end or f "
    "end return table.unpack(out, 1, #words) end)(";
static const char file_prologue_tail[] =
    ", allow, deny, residency, require_mtls, declared_routes_only, role, check); ";

typedef struct {
	char *rel, *text;
	size_t len;
} base_file;

/* What the shell keeps of the bundle last read from disk. */
typedef struct {
	char *name, *revision;
	uint32_t default_decision;
	char **mask;
	uint32_t nmask;
	char **enabled; /* the enabled policies, when the manifest lists them */
	uint32_t nenabled;
	int restricted;
	int has_shell;    /* a policy is named "shell" */
	base_file *files; /* the policy files */
	uint32_t nfiles;
	mp_snap_base_decl *decls;
	uint32_t ndecls;
} base_copy;

struct mp_snap {
	char tmp[PATH_MAX]; /* the temporary directory; "" until first needed */
	char model_sha[65]; /* the model saved as TMP/model.mpm; "" when none */
	base_copy *base;
	mp_snap_chunks chunks;
	char file[32]; /* the session file's name */
};

/* --- small helpers --- */

static char *dup_or_empty(const char *s)
{
	return mp_strdup(s ? s : "");
}

static void free_strv(char **v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		mp_free(v[i]);
	mp_free(v);
}

static void base_free(base_copy *b)
{
	if (!b)
		return;
	mp_free(b->name);
	mp_free(b->revision);
	free_strv(b->mask, b->nmask);
	free_strv(b->enabled, b->nenabled);
	for (uint32_t i = 0; i < b->nfiles; i++) {
		mp_free(b->files[i].rel);
		mp_free(b->files[i].text);
	}
	mp_free(b->files);
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
	c->name = dup_or_empty(b->name);
	c->revision = dup_or_empty(b->revision);
	c->default_decision = b->default_decision;
	bad |= !c->name || !c->revision;
	c->mask = mp_calloc(b->nmask + 1, sizeof(char *));
	for (uint32_t i = 0; c->mask && i < b->nmask; i++)
		bad |= !(c->mask[c->nmask++] = mp_strdup(b->mask[i]));
	c->enabled = mp_calloc(b->npolicies + 1, sizeof(char *));
	for (uint32_t i = 0; i < b->npolicies; i++)
		c->has_shell |= !strcmp(b->policies[i].name, "shell");
	for (uint32_t i = 0; c->enabled && i < b->npolicies; i++) {
		if (b->policies[i].enabled)
			bad |= !(c->enabled[c->nenabled++] = mp_strdup(b->policies[i].name));
		else
			c->restricted = 1;
	}
	c->files = mp_calloc(b->npolicy_files + 1, sizeof(base_file));
	for (uint32_t i = 0; c->files && i < b->npolicy_files; i++) {
		base_file *f = &c->files[c->nfiles++];
		f->rel = mp_strdup(b->files[i].rel);
		f->text = mp_strndup(b->files[i].text, b->files[i].len);
		f->len = b->files[i].len;
		bad |= !f->rel || !f->text;
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
	if (bad || !c->mask || !c->enabled || !c->files || !c->decls) {
		base_free(c);
		return NULL;
	}
	return c;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int ensure_tmp(mp_snap *s, mp_diags *d)
{
	if (s->tmp[0])
		return 0;
	const char *base = getenv("TMPDIR");
	snprintf(s->tmp, sizeof(s->tmp), "%s/meshpol-repl.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(s->tmp)) {
		mp_diags_error(d, NULL, 0, 0, "cannot make a temporary directory (%s): %s", s->tmp,
		               strerror(errno));
		s->tmp[0] = '\0';
		return -1;
	}
	return 0;
}

/* A copy of m, through TMP/model.mpm (saved once per model). */
static mp_model *clone_model(mp_snap *s, const mp_model *m, mp_diags *d)
{
	char path[PATH_MAX + 16], err[512];
	if (!m) {
		mp_diags_error(d, NULL, 0, 0, "no model is loaded (load one with :mesh MODEL)");
		return NULL;
	}
	if (ensure_tmp(s, d) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/model.mpm", s->tmp);
	if (strcmp(s->model_sha, mp_model_sha256(m))) {
		if (mp_model_save(m, path, err, sizeof(err)) < 0) {
			mp_diags_error(d, path, 0, 0, "%s", err);
			return NULL;
		}
		snprintf(s->model_sha, sizeof(s->model_sha), "%s", mp_model_sha256(m));
	}
	mp_model *c = mp_model_load(path, err, sizeof(err));
	if (!c)
		mp_diags_error(d, path, 0, 0, "%s", err);
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
	if (s->tmp[0])
		rm_tree(s->tmp);
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
	return s->base && s->base->has_shell ? "shell-session" : "shell";
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

static int is_replaceable(const char *type)
{
	for (const char *const *w = replaceable; *w; w++)
		if (!strcmp(*w, type))
			return 1;
	return 0;
}

/* Writes s as a Lua string literal. */
static void lua_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 32 || *p == 127)
			fprintf(f, "\\%03u", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Writes s as a YAML double-quoted scalar. */
static void yaml_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 32 || *p == 127)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Writes the skip set {word = {["name"] = true, ...}, ...} of the declarations of chunks
 * o[from..n) (every composed chunk when from is 0). Returns how many names it holds. */
static uint32_t write_skip(FILE *f, const mp_snap_chunk **o, uint32_t from, uint32_t n)
{
	uint32_t count = 0;
	fputc('{', f);
	for (const char *const *w = replaceable; *w; w++) {
		int opened = 0;
		for (uint32_t i = from; i < n; i++) {
			for (uint32_t k = 0; o[i] && k < o[i]->ndecls; k++) {
				if (strcmp(o[i]->decls[k].type, *w))
					continue;
				if (!opened)
					fprintf(f, "%s = {", *w);
				opened = 1;
				fputc('[', f);
				lua_quote(f, o[i]->decls[k].name);
				fputs("] = true, ", f);
				count++;
			}
		}
		if (opened)
			fputs("}, ", f);
	}
	fputc('}', f);
	return count;
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

/* The session file as the overlay runs it: the same lines, with the prologue on line 1 and a
 * skip set before each chunk's first line. */
static int write_session(const mp_snap *s, FILE *f)
{
	const mp_snap_chunk **o;
	uint32_t n = compose(s, &o);
	if (!o)
		return -1;
	fputs(session_prologue, f);
	for (uint32_t i = 0; i < n; i++) {
		fputs("__mp_dsl(", f);
		write_skip(f, o, i + 1, n);
		fputs("); ", f);
		if (o[i]) {
			fwrite(o[i]->text, 1, o[i]->len, f);
		} else {
			char header[256];
			default_header(s, header, sizeof(header));
			fputs(header, f);
		}
		fputc('\n', f);
	}
	mp_free(o);
	return ferror(f) ? -1 : 0;
}

static int mkdirs_for(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		int rc = mkdir(path, 0700);
		*p = '/';
		if (rc < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

static FILE *create(const char *dir, const char *rel, mp_diags *d)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = mkdirs_for(path) == 0 ? fopen(path, "w") : NULL;
	if (!f)
		mp_diags_error(d, path, 0, 0, "cannot write the session's copy of the bundle: %s",
		               strerror(errno));
	return f;
}

static int finish(FILE *f, const char *dir, const char *rel, mp_diags *d)
{
	int bad = ferror(f);
	bad |= fclose(f) != 0;
	if (bad)
		mp_diags_error(d, dir, 0, 0, "cannot write %s in the session's copy of the bundle",
		               rel);
	return bad ? -1 : 0;
}

/* TMP/bundle: the manifest, base's policy files (with the prologue when a name is replaced)
 * and the session file. */
static int write_overlay(mp_snap *s, const base_copy *base, const char *dir, mp_diags *d)
{
	const mp_snap_chunk **o;
	uint32_t n = compose(s, &o);
	FILE *f;
	if (!o) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		return -1;
	}
	snprintf(s->file, sizeof(s->file), "shell.lua");
	for (uint32_t i = 0; base && i < base->nfiles; i++)
		if (!strcmp(base->files[i].rel, s->file))
			snprintf(s->file, sizeof(s->file), "shell-session.lua");
	rm_tree(dir);
	if (mkdir(dir, 0700) < 0) {
		mp_diags_error(d, dir, 0, 0, "cannot make directory: %s", strerror(errno));
		goto fail;
	}
	if (!(f = create(dir, "bundle.yaml", d)))
		goto fail;
	fputs("# written by meshpol repl: the bundle with the shell session's declarations\nname: ",
	      f);
	yaml_quote(f, base ? base->name : "shell");
	fputs("\nrevision: ", f);
	char rev[512];
	snprintf(rev, sizeof(rev), "%s+shell", base ? base->revision : "0");
	yaml_quote(f, rev);
	fprintf(f, "\ndefault: %s\n",
	        base && base->default_decision == MP_DEFAULT_ALLOW ? "allow" : "deny");
	if (base && base->nmask) {
		fputs("mask: [", f);
		for (uint32_t i = 0; i < base->nmask; i++) {
			fputs(i ? ", " : "", f);
			yaml_quote(f, base->mask[i]);
		}
		fputs("]\n", f);
	}
	if (base && base->restricted) {
		fputs("policies: [", f);
		for (uint32_t i = 0; i < base->nenabled; i++) {
			yaml_quote(f, base->enabled[i]);
			fputs(", ", f);
		}
		yaml_quote(f, mp_snap_policy(s));
		fputs("]\n", f);
	}
	if (finish(f, dir, "bundle.yaml", d) < 0)
		goto fail;
	/* every declaration of the session replaces the bundle's of that type and name */
	char *skip = NULL;
	size_t skiplen = 0;
	FILE *sf = open_memstream(&skip, &skiplen);
	uint32_t nskip = sf ? write_skip(sf, o, 0, n) : 0;
	if (!sf || fclose(sf) != 0) {
		mp_diags_error(d, NULL, 0, 0, "out of memory");
		goto fail;
	}
	int bad = 0;
	for (uint32_t i = 0; base && i < base->nfiles && !bad; i++) {
		const base_file *bf = &base->files[i];
		if (!(f = create(dir, bf->rel, d))) {
			bad = 1;
			break;
		}
		/* the prologue goes on line 1, so the file's own lines keep their numbers */
		if (nskip)
			fprintf(f, "%s%s%s", file_prologue_head, skip, file_prologue_tail);
		fwrite(bf->text, 1, bf->len, f);
		bad = finish(f, dir, bf->rel, d) < 0;
	}
	free(skip); /* open_memstream's buffer comes from the C library */
	if (bad)
		goto fail;
	if (!(f = create(dir, s->file, d)))
		goto fail;
	write_session(s, f);
	if (finish(f, dir, s->file, d) < 0)
		goto fail;
	mp_free(o);
	return 0;
fail:
	mp_free(o);
	return -1;
}

mp_engine *mp_snap_build(mp_snap *s, const mp_snap_spec *sp, mp_diags *d)
{
	mp_model *m = NULL;
	mp_bundle *disk = NULL, *b = NULL;
	base_copy *fresh = NULL;
	char dir[PATH_MAX + 16];
	int session = s->chunks.n > 0;

	m = sp->model_path ? mp_model_open(sp->model_path, d) : clone_model(s, sp->current, d);
	if (!m)
		goto fail;
	if (sp->bundle_dir && (sp->reread || !session || !s->base)) {
		if (!(disk = mp_bundle_load(sp->bundle_dir, m, NULL, d)))
			goto fail;
		if (session && !(fresh = base_capture(disk))) {
			mp_diags_error(d, NULL, 0, 0, "out of memory");
			goto fail;
		}
	}
	if (!session) {
		b = disk;
		disk = NULL;
	} else {
		if (ensure_tmp(s, d) < 0)
			goto fail;
		snprintf(dir, sizeof(dir), "%s/bundle", s->tmp);
		const base_copy *base = fresh ? fresh : sp->bundle_dir ? s->base : NULL;
		int rc = write_overlay(s, base, dir, d);
		if (rc == 0)
			b = mp_bundle_load(dir, m, NULL, d);
		rm_tree(dir); /* the bundle keeps every file's text: the copy is not needed again */
		if (!b)
			goto fail;
	}
	mp_bundle_free(disk);
	disk = NULL;
	if (!session || fresh || !sp->bundle_dir) {
		/* the copy later session rebuilds start from (a failed copy is made again then) */
		base_free(s->base);
		s->base = fresh ? fresh : !session && sp->bundle_dir ? base_capture(b) : NULL;
		fresh = NULL;
	}
	mp_engine *e = mp_engine_new(m, b); /* takes both, frees both on failure */
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
		if (!strcmp(d->type, type) && !strcmp(d->name, name) && is_replaceable(type)) {
			if (n < max)
				out[n] = d;
			n++;
		}
	}
	return n;
}

const char *mp_snap_show(const mp_snap *s, const char *bundle_dir, const char *text, char *buf,
                         size_t len)
{
	char prefix[PATH_MAX + 16];
	size_t o = 0;
	if (!len)
		return buf;
	if (!s->tmp[0]) {
		snprintf(buf, len, "%s", text);
		return buf;
	}
	snprintf(prefix, sizeof(prefix), "%s/bundle/", s->tmp);
	size_t plen = strlen(prefix), flen = strlen(s->file);
	for (const char *p = text; *p && o + 1 < len;) {
		if (strncmp(p, prefix, plen)) {
			buf[o++] = *p++;
			continue;
		}
		p += plen;
		if (!strncmp(p, s->file, flen) &&
		    (p[flen] == ':' || p[flen] == '\0' || p[flen] == ' ' || p[flen] == '"' ||
		     p[flen] == ')'))
			continue; /* the session file is just "shell.lua" */
		int n = snprintf(buf + o, len - o, "%s%s", bundle_dir ? bundle_dir : "",
		                 bundle_dir ? "/" : "");
		o += n < 0 ? 0 : (size_t)n;
		if (o >= len)
			o = len - 1;
	}
	buf[o] = '\0';
	return buf;
}
