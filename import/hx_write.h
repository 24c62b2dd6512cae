/* Writing the importer's sections as k3lb YAML (import/hx_write.c). Inside import/ only. */
#ifndef K3LB_IMPORT_HX_WRITE_H
#define K3LB_IMPORT_HX_WRITE_H

#include "import/hx-t.h"

#include <stdio.h>

/* Writes the k3lb config for what was read (warning about what cannot be written). */
void hx_write_yaml(struct hx *h, FILE *y);

#endif
