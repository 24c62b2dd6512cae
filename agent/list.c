/* Agent server lists and the state file; see list.h. */
#include "agent/list.h"

#include "common/log.h"
#include "common/net-t.h"
#include "common/xalloc.h"
#include "config/value.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void agent_list_clear(struct agent_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool agent_list_has(const struct agent_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void agent_list_add(struct agent_list *l, const char *s)
{
    if (agent_list_has(l, s) || l->n >= AGENT_LIST_MAX)
        return;
    l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n] = xstrdup(s);
    l->n++;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void agent_list_sort(struct agent_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
}

bool agent_list_same_set(const struct agent_list *a, const struct agent_list *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!agent_list_has(b, a->v[i]))
            return false; /* entries are unique: same count and a in b means the same set */
    return true;
}

/* Normalises "host:port" (or "[v6]:port"); false when it is not one. */
void agent_list_join(const struct agent_list *l, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", l->v[i]);
}

bool agent_valid_address(const char *s, char *out, size_t len)
{
    struct net_addr a;
    char why[128];
    if (!config_parse_addr(s, CONFIG_ADDR_TARGET, &a, why, sizeof(why)))
        return false;
    snprintf(out, len, "%s", a.text);
    config_addr_free(&a);
    return true;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void mkdir_parents(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(buf, 0700);
        *p = '/';
    }
}

/* temp file, fsync, rename, fsync of the directory. */
int agent_state_save(const char *path, const char *server_url, const struct agent_list *l)
{
    char tmp[4200], dir[4096], *text;
    cJSON *doc = cJSON_CreateObject(), *list;
    int fd = -1, dfd, rc = 0;

    cJSON_AddStringToObject(doc, "ServerURL", server_url);
    list = cJSON_AddArrayToObject(doc, "ServerAddresses");
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(l->v[i]));
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    mkdir_parents(path);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 ||
        fsync(fd) < 0 || close(fd) < 0 || (fd = -1, rename(tmp, path) < 0)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        errno = err;
        rc = -1;
    } else {
        snprintf(dir, sizeof(dir), "%s", path);
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(text);
    return rc;
}

void agent_state_load(const char *path, const char *server_url, struct agent_list *l)
{
    FILE *f = fopen(path, "r");
    char *text, addr[300];
    size_t len;
    cJSON *doc, *url, *list, *item;

    if (!f) {
        if (errno != ENOENT)
            log_warn("state_file", "cannot read %s: %s; ignored", path, strerror(errno));
        return;
    }
    text = xmalloc(AGENT_STATE_FILE_MAX + 1);
    len = fread(text, 1, AGENT_STATE_FILE_MAX + 1, f);
    fclose(f);
    doc = len <= AGENT_STATE_FILE_MAX ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    url = cJSON_GetObjectItemCaseSensitive(doc, "ServerURL");
    list = cJSON_GetObjectItemCaseSensitive(doc, "ServerAddresses");
    if (!cJSON_IsObject(doc) || !cJSON_IsString(url) || !cJSON_IsArray(list)) {
        log_warn("state_file",
                 "%s is not a server list (want {\"ServerURL\": ..., "
                 "\"ServerAddresses\": [...]}); ignored",
                 path);
        cJSON_Delete(doc);
        return;
    }
    if (strcmp(url->valuestring, server_url) != 0) {
        log_info("state_file", "%s is for %s, not %s; ignored", path, url->valuestring, server_url);
        cJSON_Delete(doc);
        return;
    }
    cJSON_ArrayForEach(item, list)
    {
        if (cJSON_IsString(item) && agent_valid_address(item->valuestring, addr, sizeof(addr)))
            agent_list_add(l, addr);
        else
            log_warn("state_file", "%s: skipping an entry that is not host:port", path);
    }
    l->set = l->n > 0;
    if (l->set)
        log_info("state_file", "%zu server%s from %s", l->n, l->n == 1 ? "" : "s", path);
    cJSON_Delete(doc);
}
