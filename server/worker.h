/* worker.h: a worker thread: its event loop, evhttp and evaluator (worker.c). */
#ifndef MP_WORKER_H
#define MP_WORKER_H

#include "server_int.h"

int mp_worker_start(mp_worker *w, char *err, size_t errlen);
void mp_worker_stop(mp_worker *w);
/* The evaluator of the current snapshot, made anew when the snapshot changed since the last
 * request (one atomic load when it has not). NULL only when out of memory. */
mp_evaluator *mp_worker_evaluator(mp_worker *w);
void mp_worker_free(mp_worker *w);

#endif
