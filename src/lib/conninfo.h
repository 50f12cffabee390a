/*
 * conninfo.h: showing libpq connection strings without their passwords.
 *
 * A conninfo string may hold a password, as "password=..." or in the
 * user information of a URI, and a key passphrase as "sslpassword=...".
 * What these functions return never does: the values of both keywords
 * are replaced by HD_CONNINFO_MASK.
 */

#ifndef HD_CONNINFO_H
#define HD_CONNINFO_H

#define HD_CONNINFO_MASK	"********"

/*
 * Parse conninfo (keyword/value or URI form) with libpq and return it as
 * a newly allocated keyword/value string, in libpq's keyword order, with
 * the password masked.  Return NULL when libpq rejects the string; its
 * message is not returned, since it may quote the password.
 */
char	*hd_conninfo_mask(const char *conninfo);

#endif /* HD_CONNINFO_H */
