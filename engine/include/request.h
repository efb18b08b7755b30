/* request.h: a decision's request, as the decision input describes it (docs/cli.md, "decide"):
 * the one type the engine's deciders, the server's front doors and the input's readers
 * (decide.h's mp_request_from_json, jsonparse.h's mp_request_parse) share. Plain C with jansson
 * only, so the engine's C++ can fill it. */
#ifndef MP_REQUEST_H
#define MP_REQUEST_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#include <jansson.h>
#include <stdint.h>

typedef struct {
	const char *name, *value;
} mp_header;

/* A request, as the decision input describes it. Every string is borrowed and may be NULL
 * (absent) except dst_service. */
typedef struct {
	const char *principal, *src_namespace, *src_service, *src_ip, *src_cluster;
	const char *dst_service, *dst_namespace, *dst_cluster;
	uint32_t port; /* 0: unknown */
	const char *method, *path;
	const mp_header *headers;
	uint32_t nheaders;
	json_t *context; /* borrowed; the input's "context" object, for `when` functions */
	/* for the mesh providers' resources (docs/import.md): source.remote_ip, destination.ip,
	 * destination.workload, request.host, request.sni and request.auth (an object: principal,
	 * audiences, presenter, claims) */
	const char *src_remote_ip, *dst_ip, *dst_workload, *host, *sni;
	json_t *auth; /* borrowed */
	/* source.labels (an object of strings, borrowed: the caller's tags, which Kuma's from
	 * form matches) and destination.external (1 when true, accepted for later work);
	 * docs/cli.md, "decide" */
	json_t *src_labels;
	int dst_external;
	/* Consul (docs/import.md): source.peer, the cluster peer the caller comes from, and
	 * source.partition, its admin partition */
	const char *src_peer, *src_partition;
} mp_request;

#define MP_REQUEST_MAX_HEADERS 64

#pragma GCC visibility pop

#endif
