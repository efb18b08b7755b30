/* ask.h: the shell's questions about requests: :decide (one decision, compact or JSON input),
 * :why (every rule the last decision considered, and why each matched or not) and :who-can
 * (which identities of the model the policies let reach a service), plus the request forms the
 * Lua side's `decide` shares. Output formats: docs/repl.md. */
#ifndef MP_ASK_H
#define MP_ASK_H

#include "shell.h"

#include <jansson.h>

/* The compact request "SRC -> DST [METHOD] [PATH] [h:NAME=VALUE]... [:PORT]" (SRC: a service
 * name or namespace/name, a SPIFFE ID, or - for no caller; either side may end in @CLUSTER) or
 * a JSON decision input, as a new decision input. NULL with a message in err. */
json_t *mp_ask_parse(const mp_model *m, const char *text, char *err, size_t errlen);

/* Decides input (consumed) on the current snapshot, keeps it as the last decision (for :why)
 * and returns it; NULL with a message in err when the input is not a valid request. */
const mp_shell_decision *mp_ask_decide(mp_shell *sh, json_t *input, char *err, size_t errlen);
/* The decision output object; with explain, its "explain" too. */
json_t *mp_ask_json(const mp_shell_decision *d, int explain);
void mp_ask_forget(mp_shell *sh); /* frees the last decision */

/* The commands (rest: the text after the command name). 0, or -1 after printing an error. */
int mp_ask_cmd_decide(mp_shell *sh, const char *rest);
int mp_ask_cmd_why(mp_shell *sh);
int mp_ask_cmd_who_can(mp_shell *sh, const char *rest);

#endif
