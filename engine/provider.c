/* provider.c: the one list of mesh providers (provider.h). Adding a provider is its own folder
 * and one row here. */
#include "provider.h"
#include "alloc.h"

#include <stdio.h>
#include <string.h>

/* Kubernetes first: the meshes run on its workloads and services. A mesh whose answers
 * (import_int.h) apply only when its documents are present comes before Istio, whose answers
 * apply to every import (its conventions are those of a Kubernetes-only import). */
const mp_provider *const mp_providers[] = {
    &mp_provider_kubernetes, /* no say in decisions */
    &mp_provider_gatewayapi, /* the Gateway API's kinds, for every mesh that uses them */
    &mp_provider_consul,     /* its port protocols, where Consul is */
    &mp_provider_appmesh,    /* its identities and port protocols, where App Mesh is */
    &mp_provider_kuma,       /* its identities, where Kuma is */
    &mp_provider_istio,      /* the mesh of a Kubernetes-only import */
    &mp_provider_linkerd,    /* its one answer, identity, is none Istio gives */
    NULL,
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
			    !strcmp(k->kind, kind))
				return *p;
	return NULL;
}

int mp_providers_other_mesh(const mp_model *m, const mp_provider *self)
{
	for (const mp_provider *const *p = mp_providers; *p; p++)
		if (*p != self && (*p)->present && (*p)->present(m))
			return 1;
	return 0;
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
