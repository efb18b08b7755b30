/* graph.c: cycles (Tarjan's strongly connected components, iterative), BFS reachability and
 * shortest paths over the service graph (see graph.h). */
#include "graph.h"
#include "alloc.h"

#include <string.h>

/* The service an edge leads to, or MP_NONE for an external. */
static mp_id edge_target(const mp_model_view *v, const mp_edge *e)
{
	const mp_target *t = &v->targets[e->target];
	return t->kind == MP_TARGET_SERVICE ? t->id : MP_NONE;
}

typedef struct {
	mp_id node;
	uint32_t next; /* index of the next out-edge to look at */
} frame;

long mp_graph_cycles(const mp_model *m, mp_graph_cycle_fn fn, void *ctx)
{
	mp_model_view v = mp_model_get_view(m);
	uint32_t n = v.nservices;
	long found = -1;
	uint32_t *index = mp_malloc((n + 1) * sizeof(uint32_t));
	uint32_t *low = mp_malloc((n + 1) * sizeof(uint32_t));
	unsigned char *on_stack = mp_calloc(n + 1, 1);
	mp_id *stack = mp_malloc((n + 1) * sizeof(mp_id));
	frame *call = mp_malloc((n + 1) * sizeof(frame));
	mp_id *comp = mp_malloc((n + 1) * sizeof(mp_id));
	unsigned char *in_comp = mp_calloc(n + 1, 1);
	mp_id *path = mp_malloc((n + 1) * sizeof(mp_id));
	mp_edge *pedges = mp_malloc((n + 1) * sizeof(mp_edge));
	uint32_t *pos = mp_malloc((n + 1) * sizeof(uint32_t)); /* a node's place on the walk */
	if (!index || !low || !on_stack || !stack || !call || !comp || !in_comp || !path ||
	    !pedges || !pos)
		goto out;
	memset(index, 0xff, (n + 1) * sizeof(uint32_t));
	memset(pos, 0xff, (n + 1) * sizeof(uint32_t));
	uint32_t counter = 0, sp = 0, depth = 0;
	found = 0;
	for (mp_id root = 0; root < n; root++) {
		if (index[root] != MP_NONE)
			continue;
		call[depth++] = (frame){root, 0};
		index[root] = low[root] = counter++;
		stack[sp++] = root;
		on_stack[root] = 1;
		while (depth) {
			frame *f = &call[depth - 1];
			const mp_edge *out;
			uint32_t nout = mp_model_edges_from(m, f->node, &out);
			if (f->next < nout) {
				mp_id w = edge_target(&v, &out[f->next++]);
				if (w == MP_NONE)
					continue;
				if (index[w] == MP_NONE) {
					index[w] = low[w] = counter++;
					stack[sp++] = w;
					on_stack[w] = 1;
					call[depth++] = (frame){w, 0};
				} else if (on_stack[w] && index[w] < low[f->node]) {
					low[f->node] = index[w];
				}
				continue;
			}
			mp_id u = f->node;
			depth--;
			if (depth && low[u] < low[call[depth - 1].node])
				low[call[depth - 1].node] = low[u];
			if (low[u] != index[u])
				continue;
			/* u roots a component: pop it */
			uint32_t nc = 0;
			mp_id w;
			do {
				w = stack[--sp];
				on_stack[w] = 0;
				comp[nc++] = w;
				in_comp[w] = 1;
			} while (w != u);
			/* a cycle exists when the component has 2+ nodes or a self-loop */
			int self = 0;
			const mp_edge *e;
			uint32_t ne = mp_model_edges_from(m, u, &e);
			for (uint32_t i = 0; i < ne && !self; i++)
				self = edge_target(&v, &e[i]) == u;
			if (nc > 1 || self) {
				/* walk from u inside the component until a node repeats */
				uint32_t len = 0;
				mp_id cur = u;
				for (;;) {
					uint32_t k = pos[cur];
					if (k != MP_NONE) { /* the cycle is path[k..len) */
						found++;
						if (fn && fn(ctx, path + k, pedges + k, len - k))
							goto out;

						break;
					}
					pos[cur] = len;
					path[len] = cur;
					ne = mp_model_edges_from(m, cur, &e);
					uint32_t i;
					for (i = 0; i < ne; i++) {
						mp_id t = edge_target(&v, &e[i]);
						if (t != MP_NONE && in_comp[t])
							break;
					}
					pedges[len++] = e[i];
					cur = edge_target(&v, &e[i]);
				}
			}
			for (uint32_t i = 0; i < nc; i++) {
				in_comp[comp[i]] = 0;
				pos[comp[i]] = MP_NONE;
			}
		}
	}
out:
	mp_free(pos);
	mp_free(index);
	mp_free(low);
	mp_free(on_stack);
	mp_free(stack);
	mp_free(call);
	mp_free(comp);
	mp_free(in_comp);
	mp_free(path);
	mp_free(pedges);
	return found;
}

/* BFS from a; parent edges recorded in via (when non-NULL). Stops when b is reached. */
static long bfs(const mp_model *m, mp_id a, mp_id b, unsigned char *seen, mp_edge *via)
{
	mp_model_view v = mp_model_get_view(m);
	mp_id *queue = mp_malloc((v.nservices + 1) * sizeof(mp_id));
	if (!queue)
		return -1;
	uint32_t head = 0, tail = 0;
	long count = 1;
	seen[a] = 1;
	queue[tail++] = a;
	while (head < tail) {
		mp_id u = queue[head++];
		if (u == b)
			break;
		const mp_edge *e;
		uint32_t ne = mp_model_edges_from(m, u, &e);
		for (uint32_t i = 0; i < ne; i++) {
			mp_id w = edge_target(&v, &e[i]);
			if (w == MP_NONE || seen[w])
				continue;
			seen[w] = 1;
			if (via)
				via[w] = e[i];
			queue[tail++] = w;
			count++;
		}
	}
	mp_free(queue);
	return count;
}

long mp_graph_reachable(const mp_model *m, mp_id a, unsigned char *seen)
{
	return bfs(m, a, MP_NONE, seen, NULL);
}

long mp_graph_path(const mp_model *m, mp_id a, mp_id b, mp_edge *edges, uint32_t max)
{
	mp_model_view v = mp_model_get_view(m);
	if (a == b)
		return 0;
	unsigned char *seen = mp_calloc(v.nservices + 1, 1);
	mp_edge *via = mp_malloc((v.nservices + 1) * sizeof(mp_edge));
	long len = -1;
	if (!seen || !via || bfs(m, a, b, seen, via) < 0 || !seen[b])
		goto out;
	len = 0;
	for (mp_id cur = b; cur != a; cur = v.routes[via[cur].route].source)
		len++;
	if ((uint64_t)len > max) {
		len = -2;
		goto out;
	}
	long i = len;
	for (mp_id cur = b; cur != a; cur = v.routes[via[cur].route].source)
		edges[--i] = via[cur];
out:
	mp_free(seen);
	mp_free(via);
	return len;
}
