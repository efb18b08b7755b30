/* version.h: meshpol's version, cited by `meshpol version`, audit reports and trails. */
#ifndef MP_VERSION_H
#define MP_VERSION_H

#pragma GCC visibility push(default) /* the engine's interface: exported */

#define MP_VERSION "0.1.0"

#pragma GCC visibility pop

#endif
