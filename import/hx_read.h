/* Reading an HAProxy config into the importer's sections (import/hx_read.c). Inside import/
 * only. */
#ifndef K3LB_IMPORT_HX_READ_H
#define K3LB_IMPORT_HX_READ_H

#include "import/hx-t.h"

/* Reads text (len bytes) line by line into h, warning on h->warn. */
void hx_read(struct hx *h, const char *text, size_t len);
/* Frees what hx_read made. */
void hx_release(struct hx *h);

#endif
