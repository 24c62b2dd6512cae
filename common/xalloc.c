/* The allocation policy of xalloc.h, given to the libraries that allocate for k3lb: a NULL from
 * them would otherwise reach call sites that do not check it (an evbuffer, a cJSON node). */
#include "common/xalloc.h"

#include <cjson/cJSON.h>
#include <event2/event.h>

static void *lib_malloc(size_t n)
{
    return xmalloc(n);
}

void xalloc_libraries(void)
{
    cJSON_Hooks hooks = {.malloc_fn = lib_malloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
    event_set_mem_functions(lib_malloc, xrealloc, free);
}
