/* Helpers of the importer's reader and writer (import/hx.c). Inside import/ only. */
#ifndef K3LB_IMPORT_HX_H
#define K3LB_IMPORT_HX_H

#include "import/hx-t.h"

/* One line per directive not carried over; differs: it changes what the traffic sees. */
void hx_warn(struct hx *h, bool differs, char **tok, size_t n, const char *why);
/* The same for a whole section or server, named (what name), at line: changes the traffic. */
void hx_warn_about(struct hx *h, unsigned line, const char *what, const char *name,
                   const char *why);
/* HAProxy times: a number with us, ms, s, m, h or d; ms without a unit. 0 on error. */
uint64_t hx_time(const char *s);
/* A decimal number up to max. */
bool hx_uint(const char *s, unsigned max, unsigned *out);
/* *dst becomes a copy of s (or NULL), the old one freed. */
void hx_set_str(char **dst, const char *s);
void hx_route_free(struct hx_route *r);

#endif
