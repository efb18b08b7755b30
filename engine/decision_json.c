/* decision_json.c: the decision output as JSON bytes (see decision_json.h). The only code that
 * knows the output's fields and their order: a field added here appears in every front-end at
 * once. Design: docs/architecture.md ("Decisions"). */
#include "decision_json.h"

#define LIT(b, s) MP_JSONBUF_LIT(b, s)

/* One reason, whoever made it: the engine's own have no version nor source. */
static void reason(mp_jsonbuf *b, const mp_engine *e, const mp_decision *d, int advisory,
                   uint32_t i, mp_decision_json_form form)
{
	char buf[600];
	mp_reason_text t;
	mp_decision_reason(e, d, advisory, i, &t, buf, sizeof(buf));
	if (form == MP_DECISION_JSON_SORTED) {
		LIT(b, "{\"effect\":");
		mp_jsonbuf_string(b, t.effect);
		LIT(b, ",\"message\":");
		mp_jsonbuf_string(b, t.message);
		LIT(b, ",\"policy\":");
		mp_jsonbuf_string(b, t.policy);
		LIT(b, ",\"rule\":");
		mp_jsonbuf_string(b, t.rule);
		if (t.source) {
			LIT(b, ",\"source\":");
			mp_jsonbuf_string(b, t.source);
			LIT(b, ",\"version\":");
			mp_jsonbuf_string(b, t.version);
			if (t.via) {
				LIT(b, ",\"via\":");
				mp_jsonbuf_string(b, t.via);
			}
		}
		LIT(b, "}");
		return;
	}
	LIT(b, "{\"policy\":");
	mp_jsonbuf_string(b, t.policy);
	if (t.source) {
		LIT(b, ",\"version\":");
		mp_jsonbuf_string(b, t.version);
	}
	LIT(b, ",\"rule\":");
	mp_jsonbuf_string(b, t.rule);
	LIT(b, ",\"effect\":");
	mp_jsonbuf_string(b, t.effect);
	LIT(b, ",\"message\":");
	mp_jsonbuf_string(b, t.message);
	if (t.source) {
		LIT(b, ",\"source\":");
		mp_jsonbuf_string(b, t.source);
		if (t.via) {
			LIT(b, ",\"via\":");
			mp_jsonbuf_string(b, t.via);
		}
	}
	LIT(b, "}");
}

static void reasons(mp_jsonbuf *b, const mp_engine *e, const mp_decision *d, int advisory,
                    mp_decision_json_form form)
{
	uint32_t n = advisory ? d->nadvisories : d->nreasons;
	LIT(b, "[");
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			LIT(b, ",");
		reason(b, e, d, advisory, i, form);
	}
	LIT(b, "]");
}

/* {name, revision, sha256}: sorted already. */
static void bundle_object(mp_jsonbuf *b, const mp_bundle *bundle)
{
	if (!bundle) {
		LIT(b, "null");
		return;
	}
	LIT(b, "{\"name\":");
	mp_jsonbuf_string(b, bundle->name);
	LIT(b, ",\"revision\":");
	mp_jsonbuf_string(b, bundle->revision);
	LIT(b, ",\"sha256\":");
	mp_jsonbuf_string(b, bundle->sha256);
	LIT(b, "}");
}

static void dropped(mp_jsonbuf *b, const mp_decision *d)
{
	LIT(b, ",\"reasons_dropped\":");
	mp_jsonbuf_uint(b, d->dropped);
}

static void model_object(mp_jsonbuf *b, const mp_engine *e)
{
	LIT(b, "{\"sha256\":");
	mp_jsonbuf_string(b, mp_model_sha256(e->model));
	LIT(b, "}");
}

void mp_decision_json_write(mp_jsonbuf *b, const mp_engine *e, const mp_decision *d, const char *id,
                            mp_decision_json_form form)
{
	if (form == MP_DECISION_JSON_SORTED) {
		LIT(b, "{");
		if (d->nadvisories) {
			LIT(b, "\"advisories\":");
			reasons(b, e, d, 1, form);
			LIT(b, ",");
		}
		if (d->allow)
			LIT(b, "\"allow\":true,\"bundle\":");
		else
			LIT(b, "\"allow\":false,\"bundle\":");
		bundle_object(b, e->bundle);
		LIT(b, ",\"decision_id\":");
		mp_jsonbuf_string(b, id);
		LIT(b, ",\"effect\":");
		mp_jsonbuf_string(b, mp_effect_name(d->effect));
		LIT(b, ",\"model\":");
		model_object(b, e);
		LIT(b, ",\"reasons\":");
		reasons(b, e, d, 0, form);
		if (d->dropped)
			dropped(b, d);
		LIT(b, "}");
		return;
	}
	LIT(b, "{\"decision_id\":");
	mp_jsonbuf_string(b, id);
	if (d->allow)
		LIT(b, ",\"allow\":true,\"effect\":");
	else
		LIT(b, ",\"allow\":false,\"effect\":");
	mp_jsonbuf_string(b, mp_effect_name(d->effect));
	LIT(b, ",\"reasons\":");
	reasons(b, e, d, 0, form);
	if (d->dropped)
		dropped(b, d);
	if (d->nadvisories) {
		LIT(b, ",\"advisories\":");
		reasons(b, e, d, 1, form);
	}
	LIT(b, ",\"bundle\":");
	bundle_object(b, e->bundle);
	LIT(b, ",\"model\":");
	model_object(b, e);
	LIT(b, "}");
}
