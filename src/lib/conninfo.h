/*
 * conninfo.h: checking libpq connection strings and showing them without
 * their passwords.
 *
 * A conninfo string may hold a password, as "password=..." or in the
 * user information of a URI, and a key passphrase as "sslpassword=...".
 * What these functions return never does: the values of both keywords
 * are replaced by HD_CONNINFO_MASK.
 */

#ifndef HD_CONNINFO_H
#define HD_CONNINFO_H

#include <stdbool.h>

#define HD_CONNINFO_MASK	"********"

/*
 * Return whether libpq parses conninfo, each value of the options that
 * libpq checks only when it connects (port, connect_timeout, sslmode and
 * the like) is valid, and the lists of hosts, addresses and ports in the
 * string match.  When libpq does not parse it, write into reason
 * what libpq found wrong if that quotes nothing but an option name, such
 * as "unknown option \"sslmod\"", else "".  The other messages of libpq
 * can quote part of the string, and a password with it.  When a value is
 * bad, the reason names the option and quotes the value, as in "invalid
 * connect_timeout \"abc\"; use a whole number".
 * heraldd, which does not load libpq, links a version that accepts every
 * string and has heraldd-child check the file instead.
 */
bool	 hd_conninfo_parses(const char *conninfo, char *reason, size_t size);

/*
 * Parse conninfo (keyword/value or URI form) with libpq and return it as
 * a newly allocated keyword/value string, in libpq's keyword order, with
 * the password masked.  Return NULL when libpq rejects the string; its
 * message is not returned, since it may quote the password.
 */
char	*hd_conninfo_mask(const char *conninfo);

#endif /* HD_CONNINFO_H */
