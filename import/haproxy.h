/* k3lb import-haproxy: an HAProxy configuration's tcp-mode subset written as k3lb YAML. Pure
 * text to text: the command reads the file and prints; the fuzz target feeds anything. */
#ifndef K3LB_IMPORT_HAPROXY_H
#define K3LB_IMPORT_HAPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The largest input taken: HAProxy configs are a few kilobytes. */
#define HAPROXY_IMPORT_MAX (4u << 20)

/* What an import produced. */
struct haproxy_import {
    char *yaml;        /* the k3lb config (malloc'd) */
    char *warnings;    /* "file:line: directive not supported: ..." lines (malloc'd) */
    size_t n_warnings; /* how many lines */
    bool differs;      /* a directive not carried over changes what the traffic sees */
};

/* Converts text (len bytes, the file named name) into out; out's strings are always set. */
void haproxy_import(const char *name, const char *text, size_t len, struct haproxy_import *out);
void haproxy_import_free(struct haproxy_import *out);

#endif
