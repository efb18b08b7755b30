/* yamlload.h: YAML text -> libyaml documents, with the limits every YAML input of meshpol gets
 * (nesting depth, anchors, alias expansion) and its errors as diagnostics at file:line:col; and
 * the node helpers every reader of those documents shares. Used by the compiler (compile.c),
 * the importers (import.c) and the bundle loader (policy.c). Prefix mp_yaml_. Design:
 * docs/architecture.md ("Compiling"). */
#ifndef MP_YAMLLOAD_H
#define MP_YAMLLOAD_H

#include "diag.h"

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

/* A stream of YAML documents in one buffer. Borrows file (the name its errors carry) and buf,
 * which must outlive it; owns its parser (mp_yaml_close). */
typedef struct {
	yaml_parser_t parser;
	const char *file;
	const char *buf;
	size_t len;
	mp_diags *d;
	uint64_t alias_growth; /* bytes the aliases of this stream added so far */
	int oom;               /* an allocation failed (and was reported into d) */
} mp_yaml_stream;

/* 0, or -1 when out of memory (nothing is reported: the caller says so its own way). */
int mp_yaml_open(mp_yaml_stream *s, const char *file, const char *buf, size_t len, mp_diags *d);
/* The next document: 1 with *doc (the caller deletes it with yaml_document_delete), 0 at the
 * end of the stream, -1 after reporting an error into d (s->oom set when it was memory); the
 * stream cannot go on after -1. Nesting deeper than 64 levels, more than 1,000 anchors in a
 * document, and aliases that add more than 10 times the buffer's size (at least 1 MiB) across
 * its documents are errors. */
int mp_yaml_next(mp_yaml_stream *s, yaml_document_t *doc);
void mp_yaml_close(mp_yaml_stream *s);

/* Loads the first YAML document of the len bytes at buf (errors name file) with the limits
 * above. Returns 1 with *doc (delete it with yaml_document_delete), 0 when buf holds no
 * document, -1 after reporting an error into d. */
int mp_yaml_load_buf(const char *file, const char *buf, size_t len, yaml_document_t *doc,
                     mp_diags *d);
/* Loads the first YAML document of the file at path (at most max bytes) with the same limits.
 * The file belongs to its directory (a bundle's manifest): a symbolic link out of that
 * directory is refused, as in a walk. Returns 1 with *doc (delete it with yaml_document_delete),
 * 0 when the file holds no document, -1 after reporting an error into d. */
int mp_yaml_load_file(const char *path, size_t max, yaml_document_t *doc, mp_diags *d);

/* Is n YAML's null (a plain "null", "Null", "NULL", "~" or empty scalar)? NULL is not. */
int mp_yaml_is_null(const yaml_node_t *n);
/* What n is, for messages: "null" (NULL too), "a scalar", "a list", "a mapping", "nothing". */
const char *mp_yaml_kind_of(const yaml_node_t *n);
/* The value of key in map, a node of doc; NULL when map is not a mapping or has no such key. */
yaml_node_t *mp_yaml_get(yaml_document_t *doc, const yaml_node_t *map, const char *key);

#endif
