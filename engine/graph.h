/* graph.h: whole-model graph work for audits: routing cycles, reachability, shortest paths.
 * The graph: services are nodes; every (route, target) of a route with a source is an edge from
 * the source to the target service (destinations, mirrors and failover targets alike). Routes
 * without a source and targets that are externals are not edges between services. Linear time
 * in the size of the model, no recursion (a 100,000-route chain cannot overflow the stack). */
#ifndef MP_GRAPH_H
#define MP_GRAPH_H

#include "model.h"

/* One cycle: the services in order (the first is not repeated at the end) and, for each, the
 * edge that leaves it. Valid until the next call with the same callback. */
typedef int (*mp_graph_cycle_fn)(void *ctx, const mp_id *svcs, const mp_edge *edges, uint32_t n);

/* Calls fn once per strongly connected component that contains a cycle (a self-loop counts),
 * with one cycle through it. Stops early when fn returns non-zero. Returns the number of cycles
 * reported, or -1 when out of memory. */
long mp_graph_cycles(const mp_model *m, mp_graph_cycle_fn fn, void *ctx);

/* Shortest path (fewest edges) from a to b: fills edges (at most max) and returns its length,
 * 0 when a == b, -1 when b is unreachable or out of memory, -2 when longer than max. */
long mp_graph_path(const mp_model *m, mp_id a, mp_id b, mp_edge *edges, uint32_t max);

/* Marks in seen (nservices bytes, zeroed by the caller) every service reachable from a, a
 * included. Returns how many, or -1 when out of memory. */
long mp_graph_reachable(const mp_model *m, mp_id a, unsigned char *seen);

#endif
