/* mpm.c: the .mpm file: a compiled model on disk, read back without parsing YAML.
 * Layout and versioning: docs/mpm-format.md. */
#include "alloc.h"
#include "files.h"
#include "model_int.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MPM_VERSION 3
#define MPM_ENDIAN  0x01020304u
#define MPM_HEADER  56
#define HUGE_MIN    ((uint64_t)4 << 20) /* a section worth huge pages (alloc.h) */

static const unsigned char mpm_magic[8] = {0x89, 'M', 'P', 'M', '\r', '\n', 0x1a, '\n'};

enum {
	SEC_BLOB = 1,
	SEC_STR_OFF,
	SEC_CLUSTERS,
	SEC_JURISDICTIONS,
	SEC_NAMESPACES,
	SEC_SERVICES,
	SEC_ROUTES,
	SEC_EXTERNALS,
	SEC_CERTS,
	SEC_U32,
	SEC_LABELS,
	SEC_PORTS,
	SEC_TARGETS,
	SEC_WORKLOADS,
	SEC_RESOURCES,
	SEC_FINDINGS,
	SEC_SOURCES, /* version 3: outside the model's hash (model.h, mp_source_name) */
	SEC_COUNT = SEC_SOURCES
};

/* The sections of a model in file order: where each vector lives and its element size. */
typedef struct {
	void **v;
	uint32_t *n, *cap;
	size_t elsize;
	const char *what;
} section;

#define SEC(field, what)                                                                           \
	{                                                                                          \
		(void **)&m->field.v, &m->field.n, &m->field.cap, sizeof(*m->field.v), what        \
	}

static void sections_of(mp_model *m, section out[SEC_COUNT])
{
	section s[SEC_COUNT] = {
	    SEC(blob, "string data"),      SEC(str_off, "string offsets"),
	    SEC(clusters, "clusters"),     SEC(jurisdictions, "jurisdictions"),
	    SEC(namespaces, "namespaces"), SEC(services, "services"),
	    SEC(routes, "routes"),         SEC(externals, "externals"),
	    SEC(certs, "certificates"),    SEC(u32, "id pool"),
	    SEC(labels, "label pool"),     SEC(ports, "port pool"),
	    SEC(targets, "target pool"),   SEC(workloads, "workloads"),
	    SEC(resources, "resources"),   SEC(findings, "import findings"),
	    SEC(sources, "source names"),
	};
	memcpy(out, s, sizeof(s));
}

int mp_model_serialize(const mp_model *m, mp_sink_fn sink, void *ctx)
{
	section s[SEC_COUNT];
	sections_of((mp_model *)m, s);
	for (uint32_t i = 0; i < SEC_COUNT; i++) {
		uint32_t head[4] = {i + 1, (uint32_t)s[i].elsize, *s[i].n, 0};
		if (sink(ctx, head, sizeof(head)) < 0)
			return -1;
		if (*s[i].n && sink(ctx, *s[i].v, (size_t)*s[i].n * s[i].elsize) < 0)
			return -1;
	}
	return 0;
}

/* Source names are left out of the hash with their roots (docs/mpm-format.md, "The model's
 * hash"): the string data goes to the sink in runs between the roots it skips, the offsets
 * shifted by what was skipped before each string. */
int mp_model_serialize_hashed(const mp_model *m, mp_sink_fn sink, void *ctx)
{
	section s[SEC_COUNT];
	uint32_t nstr = m->str_off.n ? m->str_off.n - 1 : 0, skipped = 0;
	uint32_t *skip = NULL; /* per string: the bytes of root left out */
	const uint32_t *off = m->str_off.v;
	int rc = -1;
	sections_of((mp_model *)m, s);
	if (m->sources.n && nstr) {
		if (!(skip = mp_calloc(nstr, sizeof(*skip))))
			return -1;
		for (uint32_t i = m->sources.n; i-- > 0;) { /* backwards: the first record wins */
			const mp_source_name *sn = &m->sources.v[i];
			uint32_t len = sn->name < nstr ? off[sn->name + 1] - off[sn->name] - 1 : 0;
			if (sn->name < nstr)
				skip[sn->name] = sn->root_len < len ? sn->root_len : len;
		}
		for (uint32_t k = 0; k < nstr; k++)
			skipped += skip[k];
	}
	for (uint32_t i = 0; i < SEC_COUNT; i++) {
		uint32_t tag = i + 1, count = *s[i].n;
		if (tag == SEC_SOURCES)
			continue;
		if (tag == SEC_BLOB)
			count -= skipped;
		uint32_t head[4] = {tag, (uint32_t)s[i].elsize, count, 0};
		if (sink(ctx, head, sizeof(head)) < 0)
			goto out;
		if (!skip || (tag != SEC_BLOB && tag != SEC_STR_OFF)) {
			if (count && sink(ctx, *s[i].v, (size_t)count * s[i].elsize) < 0)
				goto out;
		} else if (tag == SEC_BLOB) {
			uint32_t from = 0; /* the next byte not yet written */
			for (uint32_t k = 0; k < nstr; k++) {
				if (!skip[k])
					continue;
				if (off[k] > from && sink(ctx, m->blob.v + from, off[k] - from) < 0)
					goto out;
				from = off[k] + skip[k];
			}
			if (m->blob.n > from && sink(ctx, m->blob.v + from, m->blob.n - from) < 0)
				goto out;
		} else {
			uint32_t buf[256], nb = 0, shift = 0;
			for (uint32_t k = 0; k <= nstr; k++) {
				buf[nb++] = off[k] - shift;
				shift += k < nstr ? skip[k] : 0;
				if (nb == 256 || k == nstr) {
					if (sink(ctx, buf, nb * sizeof(buf[0])) < 0)
						goto out;
					nb = 0;
				}
			}
		}
	}
	rc = 0;
out:
	mp_free(skip);
	return rc;
}

static int file_sink(void *ctx, const void *p, size_t n)
{
	return fwrite(p, 1, n, (FILE *)ctx) == n ? 0 : -1;
}

/* The length and SHA-256 of the content, for the header. */
typedef struct {
	EVP_MD_CTX *sha;
	uint64_t len;
} content_sum;

static int sum_sink(void *ctx, const void *p, size_t n)
{
	content_sum *c = ctx;
	c->len += n;
	return EVP_DigestUpdate(c->sha, p, n) == 1 ? 0 : -1;
}

int mp_model_write(const mp_model *m, FILE *f)
{
	unsigned char head[MPM_HEADER] = {0};
	uint32_t version = MPM_VERSION, endian = MPM_ENDIAN;
	content_sum sum = {EVP_MD_CTX_new(), 0};
	int rc = -1;
	if (!sum.sha || EVP_DigestInit_ex(sum.sha, EVP_sha256(), NULL) != 1 ||
	    mp_model_serialize(m, sum_sink, &sum) < 0 ||
	    EVP_DigestFinal_ex(sum.sha, head + 24, NULL) != 1) {
		errno = ENOMEM;
		goto out;
	}
	memcpy(head, mpm_magic, 8);
	memcpy(head + 8, &version, 4);
	memcpy(head + 12, &endian, 4);
	memcpy(head + 16, &sum.len, 8);
	if (fwrite(head, 1, sizeof(head), f) != sizeof(head) ||
	    mp_model_serialize(m, file_sink, f) < 0)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(sum.sha);
	return rc;
}

int mp_model_save(const mp_model *m, const char *path, char *err, size_t errlen)
{
	mp_out *o = mp_out_open(path, 0666, 0, err, errlen);
	if (!o)
		return -1;
	if (mp_model_write(m, mp_out_file(o)) < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		mp_out_discard(o);
		return -1;
	}
	return mp_out_commit(o, err, errlen);
}

int mp_model_is_mpm_file(const char *path)
{
	unsigned char head[8];
	struct stat st;
	char why[256];
	int fd = mp_files_open(path, &st, why, sizeof(why)); /* a FIFO would block fopen */
	if (fd < 0)
		return 0;
	ssize_t got = mp_files_read_fd(fd, head, sizeof(head));
	close(fd);
	return got == (ssize_t)sizeof(head) && memcmp(head, mpm_magic, 8) == 0;
}

/* --- loading --- */

typedef struct {
	char *err;
	size_t errlen;
} errbuf;

static int fail(errbuf *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->err, e->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Invariants 1-3 of model.h, checked on every element, so that a file whose hash matches but
 * whose content is crafted still cannot make a lookup read out of bounds. */
static int validate(const mp_model *m, errbuf *e)
{
	uint32_t nstr = m->str_off.n ? m->str_off.n - 1 : 0;
	if (nstr == 0 || m->str_off.v[0] != 0 || m->str_off.v[nstr] != m->blob.n)
		return fail(e, "string table is inconsistent");
	for (uint32_t i = 0; i < nstr; i++) {
		uint32_t a = m->str_off.v[i], b = m->str_off.v[i + 1];
		if (b <= a || b > m->blob.n || m->blob.v[b - 1] != '\0' ||
		    memchr(m->blob.v + a, '\0', b - a - 1))
			return fail(e, "string %u is malformed", i);
	}
#define STR(x)                                                                                     \
	if ((x) >= nstr)                                                                           \
		return fail(e, "%s %u: string id out of range", what, i);
#define ID(x, count, allow_none)                                                                   \
	if ((x) >= (count) && !((allow_none) && (x) == MP_NONE))                                   \
		return fail(e, "%s %u: reference out of range", what, i);
#define SPAN(s, pool)                                                                              \
	if ((uint64_t)(s).off + (s).n > m->pool.n)                                                 \
		return fail(e, "%s %u: span outside the %s pool", what, i, #pool);
#define LOC(l) STR((l).file)
	const char *what = "cluster";
	for (uint32_t i = 0; i < m->clusters.n; i++) {
		const mp_cluster *c = &m->clusters.v[i];
		STR(c->name)
		STR(c->provider) STR(c->region) STR(c->zone) STR(c->network) LOC(c->loc)
	}
	what = "jurisdiction";
	for (uint32_t i = 0; i < m->jurisdictions.n; i++) {
		const mp_jurisdiction *j = &m->jurisdictions.v[i];
		STR(j->name)
		SPAN(j->regions, u32)
		LOC(j->loc)
		for (uint32_t k = 0; k < j->regions.n; k++)
			STR(m->u32.v[j->regions.off + k])
	}
	what = "namespace";
	for (uint32_t i = 0; i < m->namespaces.n; i++) {
		const mp_namespace *n = &m->namespaces.v[i];
		STR(n->name) SPAN(n->labels, labels) SPAN(n->data, u32) LOC(n->loc)
	}
	what = "service";
	for (uint32_t i = 0; i < m->services.n; i++) {
		const mp_service *s = &m->services.v[i];
		STR(s->name)
		STR(s->identity)
		STR(s->owner)
		LOC(s->loc)
		ID(s->ns, m->namespaces.n, 0)
		ID(s->mtls, MP_MTLS_DISABLE + 1, 0)
		/* clang-format off: the checks are statements without a semicolon */
		SPAN(s->clusters, u32)
		SPAN(s->labels, labels)
		SPAN(s->ports, ports)
		SPAN(s->data, u32)
		for (uint32_t k = 0; k < s->clusters.n; k++)
			ID(m->u32.v[s->clusters.off + k], m->clusters.n, 0)
		for (uint32_t k = 0; k < s->data.n; k++)
			STR(m->u32.v[s->data.off + k])
		/* clang-format on */
	}
	what = "external";
	for (uint32_t i = 0; i < m->externals.n; i++) {
		const mp_external *x = &m->externals.v[i];
		STR(x->name)
		STR(x->host)
		STR(x->region)
		LOC(x->loc) ID(x->jurisdiction, m->jurisdictions.n, 1) SPAN(x->ports, ports)
	}
	what = "route";
	for (uint32_t i = 0; i < m->routes.n; i++) {
		const mp_route *r = &m->routes.v[i];
		STR(r->name)
		STR(r->match.path)
		LOC(r->loc)
		ID(r->source, m->services.n, 1)
		SPAN(r->match.headers, labels)
		SPAN(r->dests, targets) SPAN(r->mirrors, targets) SPAN(r->failover, targets)
	}
	what = "certificate";
	for (uint32_t i = 0; i < m->certs.n; i++) {
		const mp_certificate *c = &m->certs.v[i];
		STR(c->name) STR(c->subject) STR(c->identity) STR(c->pem_path) LOC(c->loc)
	}
	what = "label";
	for (uint32_t i = 0; i < m->labels.n; i++) {
		STR(m->labels.v[i].key) STR(m->labels.v[i].value)
	}
	what = "port";
	for (uint32_t i = 0; i < m->ports.n; i++) {
		STR(m->ports.v[i].protocol) STR(m->ports.v[i].name)
	}
	what = "target";
	for (uint32_t i = 0; i < m->targets.n; i++) {
		const mp_target *t = &m->targets.v[i];
		if (t->kind == MP_TARGET_SERVICE) {
			ID(t->id, m->services.n, 0) ID(t->cluster, m->clusters.n, 1)
		} else if (t->kind == MP_TARGET_EXTERNAL) {
			ID(t->id, m->externals.n, 0) ID(t->cluster, m->clusters.n, 1)
		} else {
			return fail(e, "target %u: unknown kind %u", i, t->kind);
		}
		STR(t->subset) LOC(t->loc)
	}
	what = "workload";
	for (uint32_t i = 0; i < m->workloads.n; i++) {
		const mp_workload *w = &m->workloads.v[i];
		STR(w->name)
		STR(w->kind)
		STR(w->identity)
		LOC(w->loc)
		ID(w->ns, m->namespaces.n, 0)
		ID(w->cluster, m->clusters.n, 0)
		SPAN(w->labels, labels)
		SPAN(w->services, u32)
		for (uint32_t k = 0; k < w->services.n; k++) {
			ID(m->u32.v[w->services.off + k], m->services.n, 0)
		}
		if (w->mtls > MP_MTLS_DISABLE)
			return fail(e, "workload %u: unknown mTLS mode %u", i, w->mtls);
	}
	what = "resource";
	for (uint32_t i = 0; i < m->resources.n; i++) {
		const mp_resource *r = &m->resources.v[i];
		STR(r->kind)
		STR(r->api)
		STR(r->ns)
		STR(r->name)
		STR(r->version)
		STR(r->spec)
		LOC(r->loc)
		ID(r->cluster, m->clusters.n, 1)
		SPAN(r->aux, u32)
	}
	what = "import finding";
	for (uint32_t i = 0; i < m->findings.n; i++) {
		const mp_import_finding *f = &m->findings.v[i];
		STR(f->code)
		STR(f->subject)
		STR(f->text)
		LOC(f->loc)
		if (f->level > MP_FINDING_INFO)
			return fail(e, "import finding %u: unknown level %u", i, f->level);
	}
	what = "source name";
	for (uint32_t i = 0; i < m->sources.n; i++) {
		const mp_source_name *sn = &m->sources.v[i];
		STR(sn->name)
		if (sn->root_len > m->str_off.v[sn->name + 1] - m->str_off.v[sn->name] - 1)
			return fail(e, "source name %u: its root is longer than the name", i);
	}
#undef STR
#undef ID
#undef SPAN
#undef LOC
	return 0;
}

/* Where a model is read from: memory or an open file. Both go through load() below, so the
 * checks are one code path; a file is read section by section straight into the model's
 * arrays, with no copy of the whole file. */
typedef struct {
	const unsigned char *mem; /* the bytes; NULL: read from fd */
	int fd;
	uint64_t size;   /* the length: of the memory, or of the file when it was opened */
	uint64_t pos;    /* bytes read so far */
	EVP_MD_CTX *sum; /* the content's checksum, fed as the bytes arrive */
} source;

void (*mp_model_load_hook)(uint32_t section);

/* The next n bytes into dst. A file that ends before its size at open has changed under us:
 * refused, like one that has grown (source_end). */
static int source_read(source *s, void *dst, size_t n, errbuf *e)
{
	assert(n <= s->size - s->pos);
	if (s->mem) {
		memcpy(dst, s->mem + s->pos, n);
	} else {
		ssize_t got = mp_files_read_fd(s->fd, dst, n);
		if (got < 0)
			return fail(e, "cannot read: %s", strerror(errno));
		if ((size_t)got < n)
			return fail(e,
			            "changed while being read: it had %llu bytes when opened, "
			            "but ended at byte %llu",
			            (unsigned long long)s->size,
			            (unsigned long long)(s->pos + (uint64_t)got));
	}
	/* the checksum covers the content: everything after the header, read whole first */
	if (s->pos >= MPM_HEADER && n && EVP_DigestUpdate(s->sum, dst, n) != 1)
		return fail(e, "cannot compute SHA-256");
	s->pos += n;
	return 0;
}

/* After the last byte: a file must not have grown since it was opened. */
static int source_end(source *s, errbuf *e)
{
	unsigned char more;
	if (s->mem)
		return 0;
	ssize_t got = mp_files_read_fd(s->fd, &more, 1);
	if (got < 0)
		return fail(e, "cannot read: %s", strerror(errno));
	if (got > 0)
		return fail(e,
		            "changed while being read: it had %llu bytes when opened, "
		            "and has more now",
		            (unsigned long long)s->size);
	return 0;
}

/* The header and sections of s into m, checked in the order of docs/mpm-format.md ("What
 * loading checks"); the content's SHA-256 into got. */
static int read_content(source *s, mp_model *m, unsigned char got[32], errbuf *e)
{
	unsigned char p[MPM_HEADER];
	uint64_t len = s->size;
	if (len == 0)
		return fail(e, "is empty (a compiled model is at least its %d-byte header)",
		            MPM_HEADER);
	if (len < MPM_HEADER)
		return fail(e, "truncated at byte %llu, inside the %d-byte header",
		            (unsigned long long)len, MPM_HEADER);
	if (source_read(s, p, MPM_HEADER, e) < 0)
		return -1;
	if (memcmp(p, mpm_magic, 8) != 0)
		return fail(e, "not a compiled meshpol model (bad magic)");
	uint32_t version, endian;
	uint64_t plen;
	memcpy(&version, p + 8, 4);
	memcpy(&endian, p + 12, 4);
	memcpy(&plen, p + 16, 8);
	if (version != MPM_VERSION)
		return fail(e,
		            "unsupported model format version %u (this meshpol reads version %d; "
		            "recompile the model)",
		            version, MPM_VERSION);
	if (endian != MPM_ENDIAN)
		return fail(e,
		            "model was written on a machine of the other byte order; recompile it");
	if (plen > len - MPM_HEADER)
		return fail(e, "truncated at byte %llu: the header says the file has %llu bytes",
		            (unsigned long long)len, (unsigned long long)plen + MPM_HEADER);
	if (plen < len - MPM_HEADER)
		return fail(e, "padded: %llu bytes, but the header says the file has %llu",
		            (unsigned long long)len, (unsigned long long)plen + MPM_HEADER);

	section sec[SEC_COUNT];
	sections_of(m, sec);
	for (uint32_t i = 0; i < SEC_COUNT; i++) {
		uint32_t head[4];
		if (len - s->pos < sizeof(head))
			return fail(e, "corrupted: section %s is cut short", sec[i].what);
		if (source_read(s, head, sizeof(head), e) < 0)
			return -1;
		if (head[0] != i + 1 || head[1] != sec[i].elsize || head[3] != 0)
			return fail(e, "corrupted: bad header for section %s", sec[i].what);
		uint64_t bytes = (uint64_t)head[2] * sec[i].elsize;
		if (head[2] == UINT32_MAX || bytes > len - s->pos)
			return fail(e, "corrupted: section %s runs past the end of the file",
			            sec[i].what);
		if (mp_reserve(sec[i].v, sec[i].cap, sec[i].elsize, head[2] ? head[2] : 1, 16) < 0)
			return fail(e, "out of memory");
		if (bytes >= HUGE_MIN)
			mp_advise_huge(*sec[i].v, (size_t)bytes);
		if (mp_model_load_hook)
			mp_model_load_hook(i);
		if (source_read(s, *sec[i].v, (size_t)bytes, e) < 0)
			return -1;
		*sec[i].n = head[2];
	}
	if (s->pos != len)
		return fail(e, "corrupted: %llu bytes after the last section",
		            (unsigned long long)(len - s->pos));
	if (source_end(s, e) < 0)
		return -1;
	if (EVP_DigestFinal_ex(s->sum, got, NULL) != 1)
		return fail(e, "cannot compute SHA-256");
	if (memcmp(got, p + 24, 32) != 0)
		return fail(e, "corrupted: content SHA-256 does not match the header");
	return 0;
}

static mp_model *load(source *s, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	unsigned char got[32];
	mp_model *m = mp_calloc(1, sizeof(*m));
	if (!m || !(s->sum = EVP_MD_CTX_new()) ||
	    EVP_DigestInit_ex(s->sum, EVP_sha256(), NULL) != 1) {
		fail(&e, "out of memory");
		goto fail;
	}
	atomic_init(&m->refs, 1);
	if (read_content(s, m, got, &e) < 0 || validate(m, &e) < 0)
		goto fail;
	if (mp_model_hash(m, got) < 0) { /* the model's hash: what decisions cite */
		fail(&e, "out of memory");
		goto fail;
	}
	m->str_hash.n = 0;
	if (mp_reserve((void **)&m->str_hash.v, &m->str_hash.cap, 4, m->str_off.n, 16) < 0) {
		fail(&e, "out of memory");
		goto fail;
	}
	m->str_hash.n = m->str_off.n - 1;
	if (mp_model_rehash(m) < 0 || mp_model_build_indexes(m) < 0) {
		fail(&e, "out of memory");
		goto fail;
	}
	memcpy(m->digest, got, 32);
	mp_hex(got, 32, m->sha256);
	EVP_MD_CTX_free(s->sum);
	return m;
fail:
	EVP_MD_CTX_free(s->sum);
	mp_model_free(m);
	return NULL;
}

mp_model *mp_model_load_mem(const void *data, size_t len, char *err, size_t errlen)
{
	source s = {.mem = data ? data : (const void *)"", .fd = -1, .size = len};
	return load(&s, err, errlen);
}

mp_model *mp_model_load(const char *path, char *err, size_t errlen)
{
	char inner[512];
	struct stat st;
	mp_model *m = NULL;
	int fd = mp_files_open_max(path, SIZE_MAX - 1, &st, inner, sizeof(inner));
	if (fd >= 0) {
		source s = {.fd = fd, .size = (uint64_t)st.st_size};
		m = load(&s, inner, sizeof(inner));
		close(fd);
	}
	if (!m)
		snprintf(err, errlen, "%s: %s", path, inner);
	return m;
}
