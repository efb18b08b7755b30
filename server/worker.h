/* worker.h: a worker thread: its event loop, evhttp and evaluator, and the watchdog's guard
 * around its Lua (worker.c). */
#ifndef MP_WORKER_H
#define MP_WORKER_H

#include "server_int.h"

/* w is zeroed but for srv and id. */
int mp_worker_start(mp_worker *w, char *err, size_t errlen);
/* The --admin-listen set on the control thread's base (no thread, no evaluator). */
int mp_worker_start_admin(mp_worker *w, char *err, size_t errlen);
void mp_worker_stop(mp_worker *w);
/* The evaluator of the current snapshot, made anew when the snapshot changed since the last
 * request (one atomic load when it has not). NULL only when out of memory. */
mp_evaluator *mp_worker_evaluator(mp_worker *w);
/* Before ev runs Lua, inside a guard: tells the watchdog which Lua state to interrupt
 * (building it, if need be). */
void mp_worker_publish_sandbox(mp_worker *w, mp_evaluator *ev);

/* A guarded section (worker thread): code the watchdog times, and may interrupt or give up on.
 * fd: the connection of the request it decides (-1: none), endpoint: MP_EP_* (-1: none). Both
 * return -1 when the worker was abandoned: the caller then returns at once, touching no
 * connection, metric or log (the control thread answered for it). */
int mp_worker_guard_enter(mp_worker *w, int fd, int endpoint);
int mp_worker_guard_leave(mp_worker *w);

/* Control thread: gives up on w if its guard still reads guard (a BUSY value it saw), or
 * whatever it reads with UINT64_MAX: answers its stuck request failed closed with why, shuts
 * its connections down. 0 done, -1 it finished meanwhile. The caller replaces it. */
int mp_worker_abandon(mp_worker *w, uint64_t guard, const char *why);

/* After the thread is joined (or for the control thread's set, after the control loop). */
void mp_worker_free(mp_worker *w);

#endif
