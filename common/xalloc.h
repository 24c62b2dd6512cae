/* The one allocation-failure policy: k3lb does not limp on without memory. A failed malloc in
 * a balancer means the machine is already swapping or out of memory; handling it at every call
 * site would add error paths that are never tested, so these abort with one line on stderr and
 * the service manager restarts the process. Bounded inputs (config, admin bodies, probe answers)
 * keep allocations small; nothing an outside peer sends can make one huge. The one exception is
 * the data path's per-connection memory (connection structs, buffers, pipes): a connection that
 * cannot get it ends as local_error and the rest of the process goes on. */
#ifndef K3LB_COMMON_XALLOC_H
#define K3LB_COMMON_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *xalloc_check(void *p)
{
    if (!p) {
        fputs("k3lb: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline void *xmalloc(size_t n)
{
    return xalloc_check(malloc(n ? n : 1));
}

static inline void *xcalloc(size_t n, size_t size)
{
    return xalloc_check(calloc(n ? n : 1, size ? size : 1));
}

/* Grows (or shrinks) an array of n elements of size bytes; overflow counts as no memory. */
static inline void *xreallocarray(void *p, size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return xalloc_check(NULL);
    size_t bytes = n * size;
    return xalloc_check(realloc(p, bytes ? bytes : 1));
}

static inline void *xrealloc(void *p, size_t n)
{
    return xalloc_check(realloc(p, n ? n : 1));
}

static inline char *xstrdup(const char *s)
{
    return xalloc_check(strdup(s));
}

static inline char *xstrndup(const char *s, size_t n)
{
    return xalloc_check(strndup(s, n));
}

/* The libraries' allocations follow the same policy (libevent's buffers and events, cJSON's
 * nodes): called once, first thing in main, before either library allocates. */
void xalloc_libraries(void);

#endif
