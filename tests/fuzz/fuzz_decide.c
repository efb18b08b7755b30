/* fuzz_decide.c: libFuzzer harness: any bytes as a decision input, the way `meshpol decide` and
 * the server read one: json_loadb, mp_request_from_json, mp_decide (with an explanation) against
 * the unit bundle's snapshot, loaded once, then mp_decision_json. docs/testing.md, "Fuzzing". */
#include "decide.h"
#include "engine.h"
#include "fuzzutil.h"

static mp_engine *engine;
static mp_evaluator *evaluator;

static void close_engine(void)
{
	mp_evaluator_free(evaluator);
	mp_engine_release(engine);
}

/* A refusal's message goes to a terminal (`meshpol decide`) and into a JSON error (the server),
 * an engine reason into the decision's JSON: each must say something, and quote what it quotes
 * cleaned (docs/architecture.md, "Error reporting"): no control characters, and valid UTF-8
 * even when cut. */
static void check_message(const char *what, const char *err)
{
	json_t *s = json_string(err);
	const char *bad = NULL;
	if (!err[0])
		bad = "empty";
	else if (!s)
		bad = "not valid UTF-8";
	for (const char *p = err; !bad && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			bad = "a control character";
	json_decref(s);
	if (bad) {
		fprintf(stderr, "%s is %s: ", what, bad);
		for (const unsigned char *p = (const unsigned char *)err; *p; p++)
			if (*p < 0x20 || *p >= 0x7f) /* escaped, not to garble the terminal */
				fprintf(stderr, "\\x%02x", *p);
			else
				fputc(*p, stderr);
		fputc('\n', stderr);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char model[1024], bundle[1024], stdlib[1024];
	mp_diags d = {0};
	setenv("MESHPOL_STDLIB", fuzz_path(stdlib, sizeof(stdlib), "stdlib"), 0);
	engine =
	    mp_engine_open(fuzz_path(model, sizeof(model), "tests/data/bundles/unit/mesh.yaml"),
	                   fuzz_path(bundle, sizeof(bundle), "tests/data/bundles/unit"), &d);
	if (!engine) {
		mp_diags_print(&d, stderr);
		fuzz_die("cannot open the unit bundle");
	}
	/* A smaller `when` budget than the default keeps the bundle's endless `when` quick. */
	mp_evaluator_opts o = {.when_budget = 100000};
	if (!(evaluator = mp_evaluator_new(engine, &o, &d))) {
		mp_diags_print(&d, stderr);
		fuzz_die("cannot make an evaluator");
	}
	mp_diags_free(&d);
	atexit(close_engine);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *input = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (!input)
		return 0;
	mp_request r;
	mp_header headers[MP_REQUEST_MAX_HEADERS];
	char err[512] = "";
	if (mp_request_from_json(input, &r, headers, err, sizeof(err)) < 0) {
		check_message("the refusal's message", err);
		json_decref(input);
		return 0;
	}
	mp_decision dec;
	json_t *why = json_array();
	mp_decide(evaluator, &r, &dec, why);
	for (uint32_t i = 0; i < dec.nreasons && i < MP_MAX_REASONS; i++)
		if (dec.reasons[i].rule ==
		    MP_NONE) /* the engine's own, which may quote the input */
			check_message("an engine reason", dec.reasons[i].message);
	if (dec.effect > MP_EFFECT_NOT_PERMITTED ||
	    dec.allow != (dec.effect == MP_EFFECT_ALLOWED) || dec.nreasons > MP_MAX_REASONS) {
		fprintf(stderr, "inconsistent decision: effect %u, allow %d, %u reasons\n",
		        dec.effect, dec.allow, dec.nreasons);
		abort();
	}
	json_t *out = mp_decision_json(engine, &dec, "00000000-0000-4000-8000-000000000000");
	if (!out) {
		fprintf(stderr, "mp_decision_json returned NULL\n");
		abort();
	}
	/* Loses nothing: every reason of the decision is in its JSON. */
	size_t nout = json_array_size(json_object_get(out, "reasons"));
	size_t nadv = json_array_size(json_object_get(out, "advisories"));
	if (nout != dec.nreasons || nadv != dec.nadvisories) {
		fprintf(stderr,
		        "the decision has %u reasons and %u advisories, its JSON %zu and %zu\n",
		        dec.nreasons, dec.nadvisories, nout, nadv);
		abort();
	}
	json_object_set_new(out, "explain", why);
	char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		fprintf(stderr, "the decision cannot be written as JSON\n");
		abort();
	}
	free(text);
	json_decref(out);
	json_decref(input);
	return 0;
}
