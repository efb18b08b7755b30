/* dynlib.c: libraries loaded on first use (dynlib.h). */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Resolves every symbol of lib's table from handle: 0, or -1 with the first missing one in
 * lib->error and the slots cleared. Under lib->lock. */
static int resolve(mp_dynlib *lib, void *handle)
{
	const mp_dynlib_sym *s;
	for (s = lib->syms; s->name; s++) {
		dlerror(); /* a NULL symbol is an error only when dlerror says so */
		*s->slot = dlsym(handle, s->name);
		const char *why = dlerror();
		if (!why && !*s->slot)
			why = "resolved to NULL";
		if (why) {
			snprintf(lib->error, sizeof(lib->error), "%s: cannot use %s: %s",
			         lib->soname, s->name, why);
			break;
		}
	}
	if (!s->name)
		return 0;
	for (s = lib->syms; s->name; s++)
		*s->slot = NULL;
	return -1;
}

int mp_dynlib_load(mp_dynlib *lib, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&lib->lock);
	if (!lib->handle && !lib->error[0]) {
		/* RTLD_LOCAL: only the table's functions are ours; RTLD_NOW: a library short of a
		 * symbol its own dependencies need fails here, not in the middle of a call */
		void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			const char *why = dlerror();
			snprintf(lib->error, sizeof(lib->error), "%s", why ? why : lib->soname);
			/* dlerror names the file; say which library meshpol wanted when it does not
			 */
			if (!strstr(lib->error, lib->soname))
				snprintf(lib->error, sizeof(lib->error), "%s: %s", lib->soname,
				         why ? why : "cannot be loaded");
		} else if (resolve(lib, h) < 0) {
			dlclose(h);
		} else {
			lib->handle = h;
		}
	}
	if (!lib->handle) {
		snprintf(err, errlen, "%s: %s", lib->name, lib->error);
		rc = -1;
	}
	pthread_mutex_unlock(&lib->lock);
	return rc;
}
