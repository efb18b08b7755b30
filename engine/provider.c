/* provider.c: the one list of mesh providers (provider.h). Adding a provider is its own folder
 * and one row here. */
#include "provider.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

const mp_provider *const mp_providers[] = {
    &mp_provider_kubernetes, &mp_provider_istio, &mp_provider_linkerd, &mp_provider_kuma, NULL,
};

const char *mp_provider_option_value(const mp_provider_setting *s, uint32_t n, const char *provider,
                                     const char *name)
{
	for (uint32_t i = n; s && i-- > 0;)
		if (!strcmp(s[i].provider, provider) && !strcmp(s[i].name, name))
			return s[i].value;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		for (const mp_provider_option *o = (*p)->options;
		     o && o->name && !strcmp((*p)->name, provider); o++)
			if (!strcmp(o->name, name))
				return o->fallback;
	return NULL;
}

const mp_provider *mp_provider_of(const mp_model *m, const mp_resource *r)
{
	const char *api = mp_model_str(m, r->api), *kind = mp_model_str(m, r->kind);
	const char *slash = strrchr(api, '/');
	size_t glen = slash ? (size_t)(slash - api) : 0;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		for (const mp_provider_kind *k = (*p)->kinds; k && k->kind; k++)
			if (!k->skip && strlen(k->group) == glen && !strncmp(k->group, api, glen) &&
			    !strcmp(k->kind, kind) &&
			    (!k->name || !strcmp(k->name, mp_model_str(m, r->name))))
				return *p;
	return NULL;
}

int mp_providers_compile(const mp_model *m, mp_provider_state **out, uint32_t *n, char *err,
                         size_t errlen)
{
	uint32_t count = 0;
	for (const mp_provider *const *p = mp_providers; *p; p++)
		count++;
	mp_provider_state *s = mp_calloc(count ? count : 1, sizeof(*s));
	*out = NULL;
	*n = 0;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint32_t k = 0;
	for (const mp_provider *const *p = mp_providers; *p; p++) {
		void *state = NULL;
		if (!(*p)->compile || !(*p)->decide)
			continue;
		if ((*p)->compile(m, &state, err, errlen) < 0) {
			mp_providers_free(s, k);
			return -1;
		}
		if (state)
			s[k++] = (mp_provider_state){*p, state};
	}
	*out = s;
	*n = k;
	return 0;
}

void mp_providers_free(mp_provider_state *s, uint32_t n)
{
	for (uint32_t i = 0; s && i < n; i++)
		if (s[i].p->free)
			s[i].p->free(s[i].state);
	mp_free(s);
}
