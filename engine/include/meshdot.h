/* meshdot.h: the picture of the mesh, one builder shared by `meshpol graph` and the html audit
 * report: services grouped by jurisdiction and cluster, routes as edges, residency leak paths
 * and the routes the policies deny drawn in colour. Written as Graphviz DOT (meshdot.c) and laid
 * out by Graphviz's `dot` program (graphviz.c). Design: docs/architecture.md ("The picture of
 * the mesh"); the picture's legend: docs/cli.md ("graph").
 *
 * What is drawn:
 *  - a box per jurisdiction, inside it a box per cluster whose region the jurisdiction holds
 *    (clusters of no jurisdiction in a box of their own), inside that a node per service and
 *    cluster it runs in ("ns/name", with its data classes); externals in their jurisdiction's
 *    box, or outside every box; a route without a source starts at the node "any caller";
 *  - an edge per route target, from each node of the source to each node of the target (only
 *    the pinned cluster's when the target names one): destinations solid, mirrors dashed,
 *    failover dotted;
 *  - colours (MP_MESHDOT_* below): a route a deny or traffic rule forbids, a route no allow
 *    rule permits (both need a bundle: mp_decide_route), and the hops of every residency leak
 *    the audit found (its findings' "path"), which win over the other two; the nodes where a
 *    leak ends have a border of the leak's colour.
 */
#ifndef MP_MESHDOT_H
#define MP_MESHDOT_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include "engine.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define MP_MESHDOT_LEAK          "#d62728" /* a hop of a residency leak path */
#define MP_MESHDOT_FORBIDDEN     "#7b3fb5" /* a route a deny or traffic rule forbids */
#define MP_MESHDOT_NOT_PERMITTED "#e67e00" /* a route no allow rule permits */
#define MP_MESHDOT_ROUTE         "#8c8c8c" /* any other route */

/* A picture with more nodes than this is not laid out for the html report (it says so). */
#define MP_MESHDOT_MAX_NODES 2000

/* What mp_meshdot_write drew. */
typedef struct {
	uint32_t nodes, edges, leak_edges, forbidden_edges, not_permitted_edges;
} mp_meshdot_stats;

/* Writes the picture of e's model as a DOT digraph to out. audit (borrowed; NULL: none) is the
 * audit of e (mp_audit_run), whose residency findings give the leak paths; the route verdicts
 * need e's bundle (none without). stats may be NULL. 0, or -1 when out of memory or out
 * cannot be written. Names are escaped for DOT and bytes that are not UTF-8 replaced, so no
 * input can change the graph's structure. */
int mp_meshdot_write(const mp_engine *e, json_t *audit, FILE *out, mp_meshdot_stats *stats);

/* The audit as the picture reads it, in parts, for an audit whose findings are not held (the
 * html report of a streamed audit): rules, an array of rules[] entries (their policy, rule and
 * type are read); each calls fn with every finding, in order, and returns non-zero when they
 * cannot all be given (fn itself always returns 0). */
typedef struct {
	json_t *rules;
	int (*each)(void *ctx, int (*fn)(void *fctx, json_t *finding), void *fctx);
	void *ctx;
} mp_meshdot_audit;

/* mp_meshdot_write with the audit in parts (a NULL: none); -1 too when each fails. */
int mp_meshdot_write_parts(const mp_engine *e, const mp_meshdot_audit *a, FILE *out,
                           mp_meshdot_stats *stats);

/* The graphviz program run: $MESHPOL_DOT when set and not empty, else "dot" (found on PATH). */
const char *mp_graphviz_program(void);

/* Lays dot (len bytes) out with the graphviz program in format ("svg"), giving it timeout_ms
 * before it is killed. On success 0, and *out the output, NUL-terminated, *outlen bytes (the
 * caller frees it with mp_free). -1 with err otherwise: the program is missing, failed (its
 * first words on stderr are quoted), timed out, or wrote more than 256 MiB. */
int mp_graphviz_render(const char *dot, size_t len, const char *format, int timeout_ms, char **out,
                       size_t *outlen, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
