/* A server list of the agent ("host:port" entries, at most AGENT_LIST_MAX, no duplicates) and
 * the state file that keeps the learned one across restarts, in the shape K3s's own agent
 * balancer writes ({"ServerURL": ..., "ServerAddresses": [...]}). Main thread. */
#ifndef K3LB_AGENT_LIST_H
#define K3LB_AGENT_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_LIST_MAX       256
#define AGENT_STATE_FILE_MAX (1024 * 1024)

struct agent_list {
    char **v; /* "host:port" entries */
    size_t n;
    bool set; /* the source has answered at least once */
};

void agent_list_clear(struct agent_list *l);
bool agent_list_has(const struct agent_list *l, const char *s);
/* Adds a copy unless present or full. */
void agent_list_add(struct agent_list *l, const char *s);
/* The same entries, in any order: K3s answers in random order, and a reordering is no change. */
bool agent_list_same_set(const struct agent_list *a, const struct agent_list *b);
/* Sorts the entries: K3s answers in random order, and a stable order keeps the promotion order
 * and the state file the same from one answer to the next. */
void agent_list_sort(struct agent_list *l);
/* The entries as "a, b, c" for a log line (cut at len). */
void agent_list_join(const struct agent_list *l, char *out, size_t len);
/* Normalises "host:port" (or "[v6]:port") into out; false when it is not one. */
bool agent_valid_address(const char *s, char *out, size_t len);

/* Writes the list atomically (temp file, fsync, rename, fsync of the directory): a crash
 * leaves the old file or the new one, never half of one. 0, or -1 with errno set. */
int agent_state_save(const char *path, const char *server_url, const struct agent_list *l);
/* Reads a state file for server_url into l. A missing file is normal (0 entries, no message);
 * a bad one, or one for another URL, is logged and ignored: it never stops the agent. */
void agent_state_load(const char *path, const char *server_url, struct agent_list *l);

#endif
