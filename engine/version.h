/* version.h: meshpol's version, cited by `meshpol version`, audit reports and trails. */
#ifndef MP_VERSION_H
#define MP_VERSION_H

#define MP_VERSION "0.1.0"

#endif
