/* shadow.h: `meshpol serve --shadow-bundle BUNDLE`: a candidate bundle that decides every
 * request beside the serving snapshot and never changes the answer; the two are compared as
 * `meshpol diff` compares decisions (mp_decision_same), disagreements counted in /metrics and
 * written into the decision record with the candidate's decision. docs/server.md ("Shadow
 * bundle"). Implemented by shadow.c; hooks: server.c (start, free), reload.c (rebuilt with
 * every reload), api.c (per decision, its record), metrics.c, worker.c (free). */
#ifndef MP_SHADOW_H
#define MP_SHADOW_H

#include "decide.h"
#include "jsonbuf.h"
#include "server_int.h"

struct evbuffer;

/* Builds the candidate against e's model (server start). 0, or -1 with the errors printed. */
int mp_shadow_start(mp_server *srv, const mp_engine *e);
void mp_shadow_free(mp_server *srv);

/* A reload's build of the candidate, on the build thread; committed on the control thread
 * (whatever became of the serving snapshot: a candidate that does not build is dropped,
 * counted and printed, and the serving snapshot is never affected). */
typedef struct {
	mp_engine *e; /* NULL: refused, errors in d */
	mp_diags d;
	int built; /* the build ran */
} mp_shadow_build;
void mp_shadow_rebuild(mp_server *srv, mp_model *m, mp_shadow_build *out);
void mp_shadow_commit(mp_server *srv, mp_shadow_build *b);
void mp_shadow_build_free(mp_shadow_build *b);

/* One request's candidate decision (worker thread, inside the decision's guard). */
enum { MP_SHADOW_NONE = 0, MP_SHADOW_AGREE, MP_SHADOW_DISAGREE };
typedef struct {
	int state;
	const mp_engine *engine; /* the candidate's snapshot (the worker's evaluator holds it) */
	mp_decision dec;
} mp_shadow_result;
void mp_shadow_decide(mp_worker *w, const mp_request *r, const mp_engine *served,
                      const mp_decision *d, mp_shadow_result *out);
/* The decision record's "shadow" member, when they disagree: ,"shadow":{"decision":...}. */
void mp_shadow_record(mp_jsonbuf *b, const mp_shadow_result *s, const char *id);

void mp_shadow_metrics(mp_server *srv, struct evbuffer *out);
void mp_shadow_worker_free(mp_worker *w);

#endif
