/* The stats page: GET / on the admin listener, an HTML view of /status that refreshes itself. */
#ifndef K3LB_ADMIN_PAGE_H
#define K3LB_ADMIN_PAGE_H

struct evhttp_request;

void admin_page_reply(struct evhttp_request *req);

#endif
