/* commands.c: the shell's command table and the handlers that are not about one request
 * (those are in ask.c). Reference: docs/repl.md ("Commands"). */
#include "commands.h"
#include "alloc.h"
#include "ask.h"
#include "audit.h"
#include "filewatch.h"
#include "luaeval.h"
#include "policy.h"
#include "report.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_help(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_load(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_mesh(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_reload(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_watch(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_policies(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_services(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_show(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_decide(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_why(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_who_can(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_audit(mp_shell *sh, int argc, char **argv, const char *rest);
/* Does path (a file to create) lie in the bundle's directory tree? */
static int in_bundle_dir(mp_shell *sh, const char *path)
{
	char dir[PATH_MAX], rdir[PATH_MAX], rbundle[PATH_MAX];
	if (!sh->bundle_dir || !realpath(sh->bundle_dir, rbundle))
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (*dir ? dir : "/") : ".", rdir))
		return 0;
	size_t n = strlen(rbundle);
	return !strncmp(rdir, rbundle, n) && (rdir[n] == '\0' || rdir[n] == '/');
}

/* A session saved into the bundle becomes one of its files, and a file cannot replace another
 * policy's declaration (it would add a second one): say which, and refuse. 1 when it does. */
static int session_replaces(mp_shell *sh)
{
	static const char *const replacing[] = {
	    "allow", "deny",  "residency", "require_mtls", "declared_routes_only",
	    "role",  "check", NULL};
	for (uint32_t c = 0; c < mp_snap_nchunks(sh->snap); c++) {
		const mp_snap_chunk *ch = mp_snap_chunk_at(sh->snap, c);
		for (uint32_t k = 0; mp_snap_line(sh->snap, ch) && k < ch->ndecls; k++) {
			const mp_snap_base_decl *rep[1];
			int replaces = 0;
			for (size_t t = 0; replacing[t]; t++)
				replaces |= !strcmp(replacing[t], ch->decls[k].type);
			if (!replaces || !mp_snap_base_find(sh->snap, ch->decls[k].type,
			                                    ch->decls[k].name, rep, 1))
				continue;
			mp_shell_error(
			    sh,
			    ":session: save into the bundle: the session replaces %s's %s "
			    "'%s' at %s, which a file of the bundle cannot do (it would "
			    "declare a second one): change %s there, or save outside the "
			    "bundle",
			    rep[0]->policy, rep[0]->type, rep[0]->name, rep[0]->loc, rep[0]->name);
			return 1;
		}
	}
	return 0;
}

static int cmd_session(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_time(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_format(mp_shell *sh, int argc, char **argv, const char *rest);
static int cmd_quit(mp_shell *sh, int argc, char **argv, const char *rest);

static const mp_command commands[] = {
    {"help", "h", "[COMMAND]", 0, 1, MP_ARG_COMMAND, NULL, cmd_help,
     "list the commands, or explain one",
     "Without an argument, lists the commands. Anything that is not a command is Lua: see\n"
     "  :help lua."},
    {"load", NULL, "POLICY_DIR", 1, 1, MP_ARG_PATH, NULL, cmd_load,
     "load a policy bundle (the session's declarations stay)",
     "Loads the bundle in POLICY_DIR against the current model (without one, the model the\n"
     "  bundle's manifest names). A bundle with errors is refused and the previous one kept."},
    {"mesh", NULL, "MODEL", 1, 1, MP_ARG_PATH, NULL, cmd_mesh,
     "load a model (.mpm or YAML) and recompile the bundle against it",
     "Loads MODEL, a compiled .mpm file or YAML sources (a file or a directory), and compiles\n"
     "  the bundle against it. On any error the previous snapshot stays. The Lua state starts\n"
     "  afresh, since `mesh` now shows another model."},
    {"reload", NULL, "", 0, 0, MP_ARG_NONE, NULL, cmd_reload,
     "read the model and the bundle from disk again",
     "Reads the model and the bundle again, then re-applies the session's declarations. A\n"
     "  reload that fails keeps the previous snapshot."},
    {"watch", NULL, "[on|off]", 0, 1, MP_ARG_WORDS, "on off", cmd_watch,
     "reload whenever the model's or the bundle's files change",
     "With on, watches the model's and the bundle's files (inotify) and, between prompts,\n"
     "  reloads when they change, printing what changed and how long the reload took."},
    {"policies", NULL, "", 0, 0, MP_ARG_NONE, NULL, cmd_policies,
     "the bundle's policies: name, version, kind, enforcement",
     "Lists the policies of the snapshot (the session's included): name, version, kind,\n"
     "  enforcement, severity, rule and check counts and file; and the bundle's rules the\n"
     "  session replaces."},
    {"services", NULL, "[PATTERN]", 0, 1, MP_ARG_NONE, NULL, cmd_services,
     "list the model's services (PATTERN: a glob or a substring)",
     "Lists services as namespace/name, SPIFFE identity and clusters. PATTERN matches the\n"
     "  reference, the name or the identity: a glob (* ? [..]) or else a substring."},
    {"show", NULL, "SERVICE", 1, 1, MP_ARG_SERVICE, NULL, cmd_show,
     "a service: identity, clusters, regions, data classes, routes in and out",
     "SERVICE is a name, namespace/name or SPIFFE ID."},
    {"decide", "d", "SRC -> DST [METHOD] [PATH] [h:NAME=VALUE]... [:PORT]", 1, -1, MP_ARG_REQUEST,
     NULL, cmd_decide, "decide one request",
     "SRC is a service (name or namespace/name), a SPIFFE ID, or - for a caller without\n"
     "  identity; DST a service or an external (name or host). Either may end in @CLUSTER.\n"
     "  Example: :decide checkout -> payments POST /v1/charge h:x-tenant=uk :8080\n"
     "  A JSON decision input works too: :decide {\"destination\": {\"service\": \"cart\"}}"},
    {"why", NULL, "", 0, 0, MP_ARG_NONE, NULL, cmd_why,
     "explain the last decision: every rule considered, and why it matched or not",
     "Shows the caller and destination as resolved, then every rule the engine considered,\n"
     "  in its order: matched or not, the reason, and what the rule asks for."},
    {"who-can", NULL, "SERVICE [METHOD] [PATH] [h:NAME=VALUE]... [:PORT]", 1, -1, MP_ARG_WHO, NULL,
     cmd_who_can, "which identities of the model the policies allow to reach a service",
     "Decides for every service of the model as the caller (and a caller without identity).\n"
     "  Without a request, tries the requests the destination's allow rules describe."},
    {"audit", NULL, "[POLICY]", 0, 1, MP_ARG_POLICY, NULL, cmd_audit,
     "audit the model against the bundle (or one policy): findings",
     "Runs every check and the engine's analyses, as `meshpol audit` does, and prints the\n"
     "  report (text, or JSON with :format json)."},
    {"session", NULL, "[show|undo|clear|save FILE]", 0, 2, MP_ARG_WORDS, "show undo clear save",
     cmd_session, "the declarations typed in this shell (shell.lua)",
     "Declarations typed in the shell (allow \"name\" { ... }, deny, role, bind, residency,\n"
     "  require_mtls, declared_routes_only, check, policy) form the policy file shell.lua,\n"
     "  compiled with the bundle. One with the type and name of a bundle's declaration\n"
     "  replaces it. show: the file; undo: drop the last declaration; clear: drop them all;\n"
     "  save FILE: write the file (never over an existing one)."},
    {"time", NULL, "[on|off]", 0, 1, MP_ARG_WORDS, "on off", cmd_time,
     "show how long evaluations take", "Prints the time of decisions, Lua chunks and audits."},
    {"format", NULL, "[text|json]", 0, 1, MP_ARG_WORDS, "text json", cmd_format,
     "print results as text or JSON",
     "JSON prints decisions in the decision API's shape, :why with its explanation, and Lua\n"
     "  values as JSON."},
    {"quit", "q", "", 0, 0, MP_ARG_NONE, NULL, cmd_quit, "leave the shell (Ctrl-D too)",
     "Leaves the shell, saving the history."},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char lua_help[] =
    "Anything that is not a command is Lua, run in a sandbox with:\n"
    "  mesh      the model (mesh.services.payments, mesh:routes_to(\"cart\"), ...)\n"
    "  bundle    the loaded bundle: name, revision, policies, rules\n"
    "  decide    decide { from = \"checkout\", to = \"payments\", method = \"POST\", path = "
    "\"/v1/charge\" }\n"
    "            or decide \"checkout -> payments POST /v1/charge\": the decision as a table\n"
    "  allow, deny, role, bind, residency, require_mtls, declared_routes_only, check, policy:\n"
    "            declare as in a policy file; the declaration joins the session (:session)\n"
    "An expression prints its value; a chunk continues on the next line while incomplete.\n";

const mp_command *mp_commands(size_t *n)
{
	*n = NCOMMANDS;
	return commands;
}

const mp_command *mp_command_find(const char *name)
{
	if (name[0] == ':')
		name++;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name) ||
		    (commands[i].alias && !strcmp(commands[i].alias, name)))
			return &commands[i];
	return NULL;
}

int mp_command_run(mp_shell *sh, const char *line)
{
	const char *p = line + 1, *end = p;
	while (*end && *end != ' ' && *end != '\t')
		end++;
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(end - p), p);
	const mp_command *c = mp_command_find(name);
	if (!c) {
		mp_shell_error(sh, ":%s: unknown command (:help lists them)", name);
		return -1;
	}
	char **argv = NULL;
	int argc = mp_shell_split(end, &argv), rc = -1;
	if (argc < 0)
		mp_shell_error(sh, ":%s: unclosed quote", c->name);
	else if (argc < c->min_args)
		mp_shell_error(sh, ":%s: missing argument (usage: :%s %s)", c->name, c->name,
		               c->args);
	else if (c->max_args >= 0 && argc > c->max_args)
		mp_shell_error(sh, ":%s: too many arguments (usage: :%s%s%s)", c->name, c->name,
		               c->args[0] ? " " : "", c->args);
	else {
		while (*end == ' ' || *end == '\t')
			end++;
		rc = c->run(sh, argc, argv, end);
	}
	mp_shell_free_words(argv, argc);
	return rc;
}

/* --- loading --- */

/* "~/x" as the shell would expand it. */
static const char *expand(const char *path, char *buf, size_t len)
{
	const char *home = getenv("HOME");
	if (path[0] == '~' && (path[1] == '/' || !path[1]) && home) {
		snprintf(buf, len, "%s%s", home, path + 1);
		return buf;
	}
	return path;
}

static char *dup_dir(const char *dir)
{
	char *d = mp_strdup(dir);
	for (size_t n = d ? strlen(d) : 0; n > 1 && d[n - 1] == '/'; n--)
		d[n - 1] = '\0';
	return d;
}

static void print_snapshot(mp_shell *sh, int model, int bundle)
{
	const mp_engine *e = sh->engine;
	if (!e)
		return;
	mp_model_view v = mp_model_get_view(e->model);
	if (model)
		printf("model %s: %u services, %u routes, %u externals; sha256 %.12s\n",
		       sh->model_path, v.nservices, v.nroutes, v.nexternals,
		       mp_model_sha256(e->model));
	const mp_bundle *b = e->bundle;
	if (bundle && b)
		printf("bundle %s: %s %s, %u policies, %u rules, %u checks; sha256 %.12s\n",
		       sh->bundle_dir ? sh->bundle_dir : "(none)", b->name, b->revision,
		       b->npolicies, b->nrules, b->nchecks, b->sha256);
	uint32_t n = mp_snap_nchunks(sh->snap);
	if (bundle && n)
		printf("session %s: %u declaration%s (:session shows them)\n",
		       mp_snap_file(sh->snap), n, n == 1 ? "" : "s");
}

/* Builds a snapshot and installs it; on failure prints the errors and keeps the old one. */
static int rebuild(mp_shell *sh, const char *cmd, const char *model_path, const char *bundle_dir,
                   int reread)
{
	mp_diags d = {0};
	mp_snap_spec spec = {model_path, sh->engine, bundle_dir, reread};
	mp_engine *e = mp_snap_build(sh->snap, &spec, &d);
	if (!e) {
		mp_shell_diags(sh, &d);
		mp_shell_error(sh, "%s: %u error%s; kept the previous snapshot", cmd, d.errors,
		               d.errors == 1 ? "" : "s");
		mp_diags_free(&d);
		return -1;
	}
	mp_diags_free(&d);
	return mp_shell_set_engine(sh, e);
}

int mp_command_open(mp_shell *sh, const char *model, const char *bundle_dir, int quiet)
{
	char hint[PATH_MAX];
	if (!model && bundle_dir && mp_bundle_model_hint(bundle_dir, hint, sizeof(hint)) == 0)
		model = hint;
	if (!model && !bundle_dir)
		return 0;
	if (!model) {
		mp_shell_error(sh, "no model: give -m MODEL or set 'model' in %s/bundle.yaml",
		               bundle_dir);
		return -1;
	}
	char *m = mp_strdup(model), *b = bundle_dir ? dup_dir(bundle_dir) : NULL;
	if (!m || (bundle_dir && !b)) {
		mp_free(m);
		mp_free(b);
		mp_shell_error(sh, "out of memory");
		return -1;
	}
	if (rebuild(sh, "meshpol repl", m, b, 1) < 0) {
		mp_free(m);
		mp_free(b);
		return -1;
	}
	mp_free(sh->model_path);
	mp_free(sh->bundle_dir);
	sh->model_path = m;
	sh->bundle_dir = b;
	if (!quiet)
		print_snapshot(sh, 1, 1);
	return 0;
}

static int cmd_load(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)rest;
	char buf[PATH_MAX], hint[PATH_MAX];
	const char *dir = expand(argv[0], buf, sizeof(buf));
	const char *model = NULL;
	if (!sh->engine) {
		if (mp_bundle_model_hint(dir, hint, sizeof(hint)) < 0) {
			mp_shell_error(sh,
			               ":load: no model is loaded and %s/bundle.yaml names none "
			               "(load one with :mesh MODEL)",
			               dir);
			return -1;
		}
		model = hint;
	}
	char *b = dup_dir(dir), *m = model ? mp_strdup(model) : NULL;
	double t0 = mp_shell_now();
	if (!b || (model && !m) || rebuild(sh, ":load", m, b, 1) < 0) {
		mp_free(b);
		mp_free(m);
		return -1;
	}
	mp_free(sh->bundle_dir);
	sh->bundle_dir = b;
	if (m) {
		mp_free(sh->model_path);
		sh->model_path = m;
	}
	print_snapshot(sh, m != NULL, 1);
	mp_shell_timing(sh, "loaded", mp_shell_now() - t0);
	if (sh->watch)
		mp_command_watch(sh, 1);
	return 0;
}

static int cmd_mesh(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)rest;
	char buf[PATH_MAX];
	char *m = mp_strdup(expand(argv[0], buf, sizeof(buf)));
	double t0 = mp_shell_now();
	mp_engine *lua_before = sh->lua ? mp_rlua_engine(sh->lua) : NULL;
	if (!m || rebuild(sh, ":mesh", m, sh->bundle_dir, 0) < 0) {
		mp_free(m);
		return -1;
	}
	mp_free(sh->model_path);
	sh->model_path = m;
	print_snapshot(sh, 1, 1);
	if (lua_before && sh->lua && mp_rlua_engine(sh->lua) != lua_before)
		printf("(the Lua state starts afresh: `mesh` shows the new model)\n");
	mp_shell_timing(sh, "loaded", mp_shell_now() - t0);
	if (sh->watch)
		mp_command_watch(sh, 1);
	return 0;
}

static int cmd_reload(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	if (mp_shell_need_model(sh, "reload") < 0)
		return -1;
	char before[65];
	snprintf(before, sizeof(before), "%s", mp_model_sha256(sh->engine->model));
	double t0 = mp_shell_now();
	if (rebuild(sh, ":reload", sh->model_path, sh->bundle_dir, 1) < 0)
		return -1;
	int changed = strcmp(before, mp_model_sha256(sh->engine->model)) != 0;
	printf("reloaded: the model %s\n", changed ? "changed" : "is unchanged");
	print_snapshot(sh, changed, 1);
	mp_shell_timing(sh, "reloaded", mp_shell_now() - t0);
	return 0;
}

/* --- :watch --- */

#define WATCH_QUIET_MS 150 /* a burst of file events settles before a reload */

int mp_command_watch(mp_shell *sh, int on)
{
	char err[512];
	mp_filewatch_free(sh->watch);
	sh->watch = NULL;
	if (!on)
		return 0;
	if (!sh->model_path && !sh->bundle_dir) {
		mp_shell_error(sh, ":watch: nothing is loaded to watch");
		return -1;
	}
	mp_filewatch *w = mp_filewatch_new(WATCH_QUIET_MS, err, sizeof(err));
	if (!w ||
	    (sh->model_path &&
	     mp_filewatch_add(w, sh->model_path, MP_FILEWATCH_MODEL, err, sizeof(err)) < 0) ||
	    (sh->bundle_dir &&
	     mp_filewatch_add(w, sh->bundle_dir, MP_FILEWATCH_BUNDLE, err, sizeof(err)) < 0)) {
		mp_filewatch_free(w);
		mp_shell_error(sh, ":watch: %s", err);
		return -1;
	}
	sh->watch = w;
	return 0;
}

static int cmd_watch(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	if (!argc) {
		printf("watch is %s\n", sh->watch ? "on" : "off");
		return 0;
	}
	int on = !strcmp(argv[0], "on");
	if (!on && strcmp(argv[0], "off")) {
		mp_shell_error(sh, ":watch: give on or off, not '%s'", argv[0]);
		return -1;
	}
	if (mp_command_watch(sh, on) < 0)
		return -1;
	if (on)
		printf("watching %s%s%s (%u director%s); changes reload between prompts\n",
		       sh->model_path ? sh->model_path : "",
		       sh->model_path && sh->bundle_dir ? " and " : "",
		       sh->bundle_dir ? sh->bundle_dir : "", mp_filewatch_ndirs(sh->watch),
		       mp_filewatch_ndirs(sh->watch) == 1 ? "y" : "ies");
	else
		printf("watch is off\n");
	return 0;
}

void mp_command_watch_fired(mp_shell *sh, const char *const *paths, uint32_t n, int tags)
{
	char list[1024];
	size_t o = 0;
	for (uint32_t i = 0; i < n && o < sizeof(list); i++) {
		if (i == 4) {
			o += (size_t)snprintf(list + o, sizeof(list) - o, " and %u more", n - i);
			break;
		}
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", paths[i]);
	}
	printf("watch: changed: %s\n", list);
	double t0 = mp_shell_now();
	int model = (tags & MP_FILEWATCH_MODEL) != 0;
	if (rebuild(sh, "watch", model ? sh->model_path : NULL, sh->bundle_dir, 1) < 0)
		return;
	double ms = (mp_shell_now() - t0) * 1e3;
	const mp_bundle *b = sh->engine->bundle;
	printf("watch: reloaded in %.1f ms", ms);
	if (b)
		printf(": %s %s, %u policies, %u rules", b->name, b->revision, b->npolicies,
		       b->nrules);
	if (model)
		printf("; model sha256 %.12s", mp_model_sha256(sh->engine->model));
	putchar('\n');
}

/* --- what is loaded --- */

static int cmd_policies(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	if (mp_shell_need_model(sh, "policies") < 0)
		return -1;
	const mp_bundle *b = sh->engine->bundle;
	if (!b) {
		mp_shell_error(sh,
		               ":policies: no bundle is loaded (load one with :load POLICY_DIR)");
		return -1;
	}
	uint32_t *nrules = mp_calloc(b->npolicies + 1, sizeof(uint32_t));
	uint32_t *nchecks = mp_calloc(b->npolicies + 1, sizeof(uint32_t));
	if (!nrules || !nchecks) {
		mp_free(nrules);
		mp_free(nchecks);
		mp_shell_error(sh, ":policies: out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < b->nrules; i++)
		nrules[b->rules[i].policy]++;
	for (uint32_t i = 0; i < b->nchecks; i++)
		nchecks[b->checks[i].policy]++;
	if (sh->json) {
		json_t *arr = json_array();
		for (uint32_t i = 0; i < b->npolicies; i++) {
			const mp_policy *p = &b->policies[i];
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "name",
			              p->name, "version", p->version ? p->version : "", "kind",
			              p->kind ? p->kind : "", "enforcement",
			              mp_enforcement_name(p->enforcement), "severity",
			              mp_severity_name(p->severity), "rules", (json_int_t)nrules[i],
			              "checks", (json_int_t)nchecks[i], "file",
			              p->file ? p->file : "", "enabled", (int)p->enabled));
		}
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(arr);
	} else {
		size_t wn = 4, wv = 7, wk = 4;
		for (uint32_t i = 0; i < b->npolicies; i++) {
			const mp_policy *p = &b->policies[i];
			wn = strlen(p->name) > wn ? strlen(p->name) : wn;
			wv = p->version && strlen(p->version) > wv ? strlen(p->version) : wv;
			wk = p->kind && strlen(p->kind) > wk ? strlen(p->kind) : wk;
		}
		printf("bundle %s %s, default %s; sha256 %.12s\n", b->name, b->revision,
		       b->default_decision == MP_DEFAULT_ALLOW ? "allow" : "deny", b->sha256);
		printf("  %-*s  %-*s  %-*s  %-11s  %-8s  %5s  %6s  %s\n", (int)wn, "NAME", (int)wv,
		       "VERSION", (int)wk, "KIND", "ENFORCEMENT", "SEVERITY", "RULES", "CHECKS",
		       "FILE");
		for (uint32_t i = 0; i < b->npolicies; i++) {
			const mp_policy *p = &b->policies[i];
			printf("  %-*s  %-*s  %-*s  %-11s  %-8s  %5u  %6u  %s%s\n", (int)wn,
			       p->name, (int)wv, p->version ? p->version : "", (int)wk,
			       p->kind ? p->kind : "", mp_enforcement_name(p->enforcement),
			       mp_severity_name(p->severity), nrules[i], nchecks[i],
			       p->file ? p->file : "", p->enabled ? "" : " (disabled)");
		}
		/* what the session replaces */
		for (uint32_t c = 0; c < mp_snap_nchunks(sh->snap); c++) {
			const mp_snap_chunk *ch = mp_snap_chunk_at(sh->snap, c);
			uint32_t line = mp_snap_line(sh->snap, ch);
			for (uint32_t k = 0; line && k < ch->ndecls; k++) {
				const mp_snap_base_decl *rep[8];
				uint32_t n = mp_snap_base_find(sh->snap, ch->decls[k].type,
				                               ch->decls[k].name, rep, 8);
				for (uint32_t r = 0; r < n && r < 8; r++)
					printf("  replaced by %s:%u: %s %s '%s' at %s\n",
					       mp_snap_file(sh->snap), line, rep[r]->policy,
					       rep[r]->type, rep[r]->name, rep[r]->loc);
			}
		}
	}
	mp_free(nrules);
	mp_free(nchecks);
	return 0;
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int pattern_matches(const char *pat, const char *s)
{
	return has_glob(pat) ? fnmatch(pat, s, 0) == 0 : strstr(s, pat) != NULL;
}

static const char *ref_of(const mp_model *m, mp_id s, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	snprintf(buf, len, "%s/%s", mp_model_str(m, v.namespaces[v.services[s].ns].name),
	         mp_model_str(m, v.services[s].name));
	return buf;
}

static void clusters_of(const mp_model *m, mp_id s, char *buf, size_t len)
{
	mp_model_view v = mp_model_get_view(m);
	const mp_service *sv = &v.services[s];
	size_t o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < sv->clusters.n && o < len; i++)
		o +=
		    (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
		                     mp_model_str(m, v.clusters[v.u32[sv->clusters.off + i]].name));
}

static int cmd_services(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	if (mp_shell_need_model(sh, "services") < 0)
		return -1;
	const mp_model *m = sh->engine->model;
	mp_model_view v = mp_model_get_view(m);
	const char *pat = argc ? argv[0] : NULL;
	char ref[512], cl[512];
	size_t wr = 3, wi = 8;
	uint32_t n = 0;
	json_t *arr = sh->json ? json_array() : NULL;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && !sh->json)
			printf("  %-*s  %-*s  %s\n", (int)wr, "SERVICE", (int)wi, "IDENTITY",
			       "CLUSTERS");
		for (mp_id s = 0; s < v.nservices; s++) {
			const char *id = mp_model_str(m, v.services[s].identity);
			ref_of(m, s, ref, sizeof(ref));
			if (pat && !pattern_matches(pat, ref) &&
			    !pattern_matches(pat, mp_model_str(m, v.services[s].name)) &&
			    !pattern_matches(pat, id))
				continue;
			if (pass == 0) {
				wr = strlen(ref) > wr ? strlen(ref) : wr;
				wi = strlen(id) > wi ? strlen(id) : wi;
				n++;
				continue;
			}
			clusters_of(m, s, cl, sizeof(cl));
			if (arr)
				json_array_append_new(arr,
				                      json_pack("{s:s, s:s, s:s}", "service", ref,
				                                "identity", id, "clusters", cl));
			else
				printf("  %-*s  %-*s  %s\n", (int)wr, ref, (int)wi, id, cl);
		}
	}
	if (arr) {
		char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(arr);
	} else {
		printf("%u service%s%s%s\n", n, n == 1 ? "" : "s", pat ? " matching " : "",
		       pat ? pat : "");
	}
	return 0;
}

/* --- :show --- */

static const char *match_text(const mp_model *m, const mp_route *r, char *buf, size_t len)
{
	static const char *const methods[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
	                                      "PATCH", "OPTIONS", "CONNECT", "TRACE"};
	static const char *const kinds[] = {"any path", "exact", "prefix", "regex"};
	mp_model_view v = mp_model_get_view(m);
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < 9 && o < len; i++)
		if (r->match.methods & (1u << i))
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", methods[i]);
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "%s%s%s%s", o ? " " : "",
		                      kinds[r->match.path_kind < 4 ? r->match.path_kind : 0],
		                      r->match.path_kind ? " " : "",
		                      r->match.path_kind ? mp_model_str(m, r->match.path) : "");
	for (uint32_t i = 0; i < r->match.headers.n && o < len; i++) {
		const mp_label *h = &v.labels[r->match.headers.off + i];
		o += (size_t)snprintf(buf + o, len - o, " h:%s=%s", mp_model_str(m, h->key),
		                      mp_model_str(m, h->value));
	}
	return buf;
}

/* The role of target t in route r, with its weight for destinations. */
static const char *target_role(const mp_route *r, uint32_t t, char *buf, size_t len)
{
	if (t >= r->mirrors.off && t < r->mirrors.off + r->mirrors.n)
		return "mirror";
	if (t >= r->failover.off && t < r->failover.off + r->failover.n) {
		snprintf(buf, len, "failover %u", t - r->failover.off + 1);
		return buf;
	}
	return "destination";
}

static void print_edges(const mp_model *m, const mp_edge *e, uint32_t n, int out, json_t *arr)
{
	mp_model_view v = mp_model_get_view(m);
	char ref[512], match[512], role[64], loc[PATH_MAX], peer[600], extra[64];
	for (uint32_t i = 0; i < n; i++) {
		const mp_route *r = &v.routes[e[i].route];
		const mp_target *t = &v.targets[e[i].target];
		if (out) {
			if (t->kind == MP_TARGET_SERVICE)
				snprintf(peer, sizeof(peer), "to %s",
				         ref_of(m, t->id, ref, sizeof(ref)));
			else
				snprintf(peer, sizeof(peer), "to external %s",
				         mp_model_str(m, v.externals[t->id].name));
		} else if (r->source == MP_NONE) {
			snprintf(peer, sizeof(peer), "from any caller");
		} else {
			snprintf(peer, sizeof(peer), "from %s",
			         ref_of(m, r->source, ref, sizeof(ref)));
		}
		const char *rl = target_role(r, e[i].target, role, sizeof(role));
		extra[0] = '\0';
		if (!strcmp(rl, "destination") && t->weight && t->weight != 100)
			snprintf(extra, sizeof(extra), " %u%%", t->weight);
		if (t->cluster != MP_NONE)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " in %s",
			         mp_model_str(m, v.clusters[t->cluster].name));
		match_text(m, r, match, sizeof(match));
		mp_model_loc_str(m, r->loc, loc, sizeof(loc));
		if (arr)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "route",
			                                     mp_model_str(m, r->name), "peer", peer,
			                                     "as", rl, "match", match, "loc", loc));
		else
			printf("    %s  %s  (%s%s)  %s  %s\n", mp_model_str(m, r->name), peer, rl,
			       extra, match, loc);
	}
}

static int cmd_show(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)rest;
	if (mp_shell_need_model(sh, "show") < 0)
		return -1;
	const mp_model *m = sh->engine->model;
	mp_model_view v = mp_model_get_view(m);
	const char *q = argv[0];
	mp_id s = strncmp(q, "spiffe://", 9) ? mp_model_find_service(m, q)
	                                     : mp_model_find_service_by_identity(m, q);
	if (s == MP_NONE) {
		const mp_id *ids;
		uint32_t n = mp_model_services_named(m, q, &ids);
		if (n > 1)
			mp_shell_error(sh, ":show: '%s' names %u services: write namespace/name", q,
			               n);
		else
			mp_shell_error(
			    sh, ":show: no service '%s' in the model (:services lists them)", q);
		return -1;
	}
	static const char *const mtls[] = {"unset", "STRICT", "PERMISSIVE", "DISABLE"};
	const mp_service *sv = &v.services[s];
	char ref[512], loc[PATH_MAX], buf[2048];
	size_t o;
	json_t *j = sh->json ? json_object() : NULL;
	ref_of(m, s, ref, sizeof(ref));
	/* text: "  key        value" ("(none)" when absent); JSON: "key": value or null */
#define FIELD(k, jk, val, present)                                                                 \
	do {                                                                                       \
		if (j)                                                                             \
			json_object_set_new(j, jk, (present) ? json_string(val) : json_null());    \
		else                                                                               \
			printf("  %-11s %s\n", k, (present) ? (val) : "(none)");                   \
	} while (0)
	if (j)
		json_object_set_new(j, "service", json_string(ref));
	else
		printf("%s\n", ref);
	FIELD("identity", "identity", mp_model_str(m, sv->identity), sv->identity);
	FIELD("owner", "owner", mp_model_str(m, sv->owner), sv->owner);
	FIELD("mtls", "mtls", mtls[sv->mtls < 4 ? sv->mtls : 0], sv->mtls);
	o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < sv->clusters.n && o < sizeof(buf); i++) {
		const mp_cluster *c = &v.clusters[v.u32[sv->clusters.off + i]];
		mp_id jur = mp_model_jurisdiction_of_region(m, c->region);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s (region %s, %s)",
		                      i ? "; " : "", mp_model_str(m, c->name),
		                      mp_model_str(m, c->region),
		                      jur != MP_NONE ? mp_model_str(m, v.jurisdictions[jur].name)
		                                     : "no jurisdiction");
	}
	FIELD("clusters", "clusters", buf, 1);
	o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < sv->data.n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? ", " : "",
		                      mp_model_str(m, v.u32[sv->data.off + i]));
	FIELD("data", "data", buf, sv->data.n);
	o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < sv->ports.n && o < sizeof(buf); i++) {
		const mp_port *p = &v.ports[sv->ports.off + i];
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u/%s%s%s%s", i ? ", " : "",
		                      p->port, mp_model_str(m, p->protocol), p->name ? " (" : "",
		                      mp_model_str(m, p->name), p->name ? ")" : "");
	}
	FIELD("ports", "ports", buf, sv->ports.n);
	o = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < sv->labels.n && o < sizeof(buf); i++) {
		const mp_label *l = &v.labels[sv->labels.off + i];
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=%s", i ? ", " : "",
		                      mp_model_str(m, l->key), mp_model_str(m, l->value));
	}
	FIELD("labels", "labels", buf, sv->labels.n);
	FIELD("defined at", "loc", mp_model_loc_str(m, sv->loc, loc, sizeof(loc)), 1);
#undef FIELD
	const mp_edge *in, *out;
	uint32_t nin = mp_model_edges_to(m, s, &in), nout = mp_model_edges_from(m, s, &out);
	json_t *jin = j ? json_array() : NULL, *jout = j ? json_array() : NULL;
	if (!j)
		printf("  routes in (%u):\n", nin);
	print_edges(m, in, nin, 0, jin);
	if (!j)
		printf("  routes out (%u):\n", nout);
	print_edges(m, out, nout, 1, jout);
	if (j) {
		json_object_set_new(j, "routes_in", jin);
		json_object_set_new(j, "routes_out", jout);
		char *s2 = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s2)
			printf("%s\n", s2);
		free(s2);
		json_decref(j);
	}
	return 0;
}

/* --- requests (ask.c) --- */

static int cmd_decide(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	return mp_ask_cmd_decide(sh, rest);
}

static int cmd_why(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	return mp_ask_cmd_why(sh);
}

static int cmd_who_can(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	return mp_ask_cmd_who_can(sh, rest);
}

/* --- :audit --- */

static void audit_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	mp_sandbox *sb = ctx;
	(void)step;
	(void)done;
	(void)total;
	if (mp_shell_interrupted() && sb)
		mp_sandbox_interrupt(sb); /* the remaining checks stop at once */
}

static int cmd_audit(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	char err[512];
	if (mp_shell_need_model(sh, "audit") < 0)
		return -1;
	const mp_bundle *b = sh->engine->bundle;
	if (!b) {
		mp_shell_error(sh, ":audit: no bundle is loaded (load one with :load POLICY_DIR)");
		return -1;
	}
	if (argc) {
		uint32_t i;
		for (i = 0; i < b->npolicies && strcmp(b->policies[i].name, argv[0]); i++)
			;
		if (i == b->npolicies) {
			mp_shell_error(
			    sh, ":audit: no policy '%s' in the bundle (:policies lists them)",
			    argv[0]);
			return -1;
		}
	}
	mp_sandbox *sb = mp_shell_ev_sandbox(sh);
	mp_shell_busy(sb);
	const char *source = sh->model_path;
	mp_audit_opts o = {.fail_on = MP_ENF_HARD,
	                   .sources = &source,
	                   .nsources = 1,
	                   .only_policy = argc ? argv[0] : NULL,
	                   .progress = audit_progress,
	                   .progress_ctx = sb};
	const char *epoch = getenv("SOURCE_DATE_EPOCH"); /* reproducible reports, for tests */
	if (epoch && *epoch)
		o.now = strtoll(epoch, NULL, 10);
	double t0 = mp_shell_now();
	json_t *audit = mp_audit_run(sh->ev, &o);
	double secs = mp_shell_now() - t0;
	if (!audit || mp_shell_interrupted()) {
		json_decref(audit);
		mp_shell_error(sh, ":audit: %s", audit ? "interrupted" : "out of memory");
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc =
	    f ? mp_report_write(audit, sh->json ? "json" : "text", f, sh->color, err, sizeof(err))
	      : -1;
	if (f)
		fclose(f);
	json_decref(audit);
	if (rc < 0) {
		free(text);
		mp_shell_error(sh, ":audit: %s", f ? err : "out of memory");
		return -1;
	}
	if (text) {
		fputs(text, stdout);
		if (len && text[strlen(text) - 1] != '\n')
			putchar('\n');
	}
	free(text);
	mp_shell_timing(sh, "audited", secs);
	return 0;
}

/* --- the session --- */

static void report_declarations(mp_shell *sh)
{
	const mp_snap_chunk *c = mp_snap_last(sh->snap);
	uint32_t line = mp_snap_line(sh->snap, c);
	const char *file = mp_snap_file(sh->snap);
	for (uint32_t i = 0; c && i < c->ndecls; i++) {
		const mp_snap_decl *d = &c->decls[i];
		const mp_snap_base_decl *rep[8];
		printf("%s:%u: %s '%s'", file, line ? line : 1, d->type, d->name);
		if (!strcmp(d->type, "policy")) {
			printf(": the session's declarations now belong to this policy\n");
			continue;
		}
		uint32_t n = mp_snap_base_find(sh->snap, d->type, d->name, rep, 8);
		int earlier = 0;
		for (uint32_t k = 0; k + 1 < mp_snap_nchunks(sh->snap) && !earlier; k++) {
			const mp_snap_chunk *e = mp_snap_chunk_at(sh->snap, k);
			for (uint32_t x = 0; x < e->ndecls && !earlier; x++)
				earlier = !strcmp(e->decls[x].type, d->type) &&
				          !strcmp(e->decls[x].name, d->name);
		}
		if (n) {
			printf(" replaces ");
			for (uint32_t k = 0; k < n && k < 8; k++)
				printf("%s%s's at %s", k ? " and " : "", rep[k]->policy,
				       rep[k]->loc);
			putchar('\n');
		} else if (strcmp(d->type, "bind") && earlier) {
			printf(" replaces the session's earlier one\n");
		} else {
			printf(" added\n");
		}
	}
}

int mp_command_declare(mp_shell *sh, const char *code, size_t len, const mp_snap_decl *decls,
                       uint32_t ndecls)
{
	if (!sh->engine) {
		mp_shell_error(sh, "declarations are compiled against a model: load one with :mesh "
		                   "MODEL first");
		return -1;
	}
	if (mp_snap_push(sh->snap, code, len, decls, ndecls) < 0) {
		mp_shell_error(sh, "out of memory");
		return -1;
	}
	double t0 = mp_shell_now();
	if (rebuild(sh, mp_snap_file(sh->snap), NULL, sh->bundle_dir, 0) < 0) {
		mp_snap_chunk_free(mp_snap_pop(sh->snap));
		return -1;
	}
	report_declarations(sh);
	mp_shell_timing(sh, "compiled", mp_shell_now() - t0);
	return 0;
}

static int cmd_session(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	const char *op = argc ? argv[0] : "show";
	if (!strcmp(op, "show") && argc <= 1) {
		if (!mp_snap_nchunks(sh->snap)) {
			printf("the session declares nothing yet: a declaration typed here (allow "
			       "\"name\" { ... }, deny, role, ...) joins it\n");
			return 0;
		}
		printf("%s, policy '%s':\n", mp_snap_file(sh->snap), mp_snap_policy(sh->snap));
		return mp_snap_write(sh->snap, stdout, 1);
	}
	if (!strcmp(op, "save")) {
		if (argc != 2) {
			mp_shell_error(sh, ":session: save needs a FILE");
			return -1;
		}
		char buf[PATH_MAX];
		const char *path = expand(argv[1], buf, sizeof(buf));
		int into_bundle = in_bundle_dir(sh, path);
		if (into_bundle && session_replaces(sh))
			return -1;
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			if (fd >= 0)
				close(fd);
			mp_shell_error(sh, ":session: cannot create %s: %s", path,
			               access(path, F_OK) == 0 ? "it exists"
			                                       : "cannot write there");
			return -1;
		}
		int bad = mp_snap_write(sh->snap, f, 0) < 0;
		bad |= fclose(f) != 0;
		if (bad) {
			mp_shell_error(sh, ":session: cannot write %s", path);
			unlink(path);
			return -1;
		}
		if (!into_bundle) {
			printf("wrote %s\n", path);
			return 0;
		}
		/* In the bundle, the file is the session from now on: loading both would declare
		 * everything twice (a duplicate policy at the next reload). The bundle is read
		 * again with it, and the session cleared; if that fails, nothing changed. */
		mp_snap_chunks saved;
		mp_snap_take_all(sh->snap, &saved);
		if (rebuild(sh, ":session save", NULL, sh->bundle_dir, 1) < 0) {
			mp_snap_give_back(sh->snap, &saved);
			unlink(path);
			mp_shell_error(sh, ":session: %s would break the bundle; not saved", path);
			return -1;
		}
		mp_snap_chunks_free(&saved);
		printf("wrote %s into the bundle %s: its declarations load from there now, and the "
		       "session is empty\n",
		       path, sh->bundle_dir);
		return 0;
	}
	if (argc > 1) {
		mp_shell_error(sh, ":session: %s takes no argument", op);
		return -1;
	}
	if (!strcmp(op, "undo")) {
		mp_snap_chunk *c = mp_snap_pop(sh->snap);
		if (!c) {
			mp_shell_error(sh, ":session: nothing to undo");
			return -1;
		}
		if (sh->engine && rebuild(sh, ":session undo", NULL, sh->bundle_dir, 0) < 0) {
			mp_snap_unpop(sh->snap, c);
			return -1;
		}
		const char *nl = strchr(c->text, '\n');
		printf("dropped: %.*s%s\n", (int)(nl ? nl - c->text : (long)c->len), c->text,
		       nl ? " ..." : "");
		mp_snap_chunk_free(c);
		return 0;
	}
	if (!strcmp(op, "clear")) {
		mp_snap_chunks saved;
		mp_snap_take_all(sh->snap, &saved);
		if (sh->engine && rebuild(sh, ":session clear", NULL, sh->bundle_dir, 0) < 0) {
			mp_snap_give_back(sh->snap, &saved);
			return -1;
		}
		printf("dropped %u declaration%s: the bundle is as on disk\n", saved.n,
		       saved.n == 1 ? "" : "s");
		mp_snap_chunks_free(&saved);
		return 0;
	}
	mp_shell_error(sh, ":session: give show, undo, clear or save FILE, not '%s'", op);
	return -1;
}

/* --- settings --- */

static int on_off(mp_shell *sh, const char *cmd, int argc, char **argv, const char *a,
                  const char *b, int *flag)
{
	if (!argc) {
		printf("%s is %s\n", cmd, *flag ? b : a);
		return 0;
	}
	if (strcmp(argv[0], a) && strcmp(argv[0], b)) {
		mp_shell_error(sh, ":%s: give %s or %s, not '%s'", cmd, a, b, argv[0]);
		return -1;
	}
	*flag = !strcmp(argv[0], b);
	return 0;
}

static int cmd_time(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	return on_off(sh, "time", argc, argv, "off", "on", &sh->show_time);
}

static int cmd_format(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	return on_off(sh, "format", argc, argv, "text", "json", &sh->json);
}

static int cmd_quit(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)argc;
	(void)argv;
	(void)rest;
	sh->quit = 1;
	return 0;
}

static int cmd_help(mp_shell *sh, int argc, char **argv, const char *rest)
{
	(void)rest;
	if (argc) {
		if (!strcmp(argv[0], "lua")) {
			fputs(lua_help, stdout);
			return 0;
		}
		const mp_command *c = mp_command_find(argv[0]);
		if (!c) {
			mp_shell_error(sh, ":help: no command '%s' (:help lists them)", argv[0]);
			return -1;
		}
		printf("usage: :%s%s%s\n  %s.\n  %s\n", c->name, c->args[0] ? " " : "", c->args,
		       c->summary, c->help);
		if (c->alias)
			printf("  Also :%s.\n", c->alias);
		return 0;
	}
	printf("commands (:help COMMAND explains one; :help lua, the Lua side):\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  :%-9s %s\n", commands[i].name, commands[i].summary);
	printf("Anything else is Lua, with mesh, bundle, decide and the policy DSL in scope.\n");
	return 0;
}
