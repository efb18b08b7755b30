/* complete.h: Tab completion for the shell (GNU readline): command names, then each command's
 * arguments as its row in the command table says (services, SPIFFE IDs, externals, policies,
 * file names, methods, words), and Lua globals and fields through the Lua side. The rules are
 * in docs/repl.md ("Completion"). */
#ifndef MP_COMPLETE_H
#define MP_COMPLETE_H

#include "shell.h"

/* Installs the completion functions in readline; sh must outlive them. */
void mp_complete_install(mp_shell *sh);
/* Frees what the last completion kept. */
void mp_complete_free(void);

#endif
