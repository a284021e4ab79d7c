/*
 * marker.h - marks claimed tasks and tickets in progress a moment after the
 * claim (marker_ prefix).
 *
 * A worker's Claim leases its items at once; that their tasks and tickets
 * show `in_progress` is derived state (docs/queue-semantics.md), written by
 * flow_claimed_mark_running in a transaction of its own. The marker holds
 * each claim's marking for MARKER_DELAY_MS and then runs it on its own
 * database connection: items that finished meanwhile are no longer in
 * progress and mark nothing, so a task done within the delay goes from
 * pending to completed with one write instead of two. Items still running
 * are marked as before, a fraction of a second later.
 *
 * Pending markings are bounded (MARKER_MAX_PENDING): when full, marker_add
 * refuses and the caller marks at once. marker_stop runs every pending
 * marking before it returns (each is a few milliseconds of database work);
 * if the database is unreachable they are dropped, which leaves tasks
 * pending as a lost marking always could (a lease expiry restores the same
 * state).
 *
 * Ownership: marker_start copies conninfo; marker_add copies its strings;
 * the struct marker is the caller's until marker_stop frees it. marker_add
 * is thread-safe.
 */
#ifndef FLOW_MARKER_H
#define FLOW_MARKER_H

#include <stdbool.h>

#define MARKER_DELAY_MS 500
#define MARKER_MAX_PENDING 10000

struct marker;

/* Starts the thread (delay_ms: MARKER_DELAY_MS but for tests). Returns
 * FLOW_OK, FLOW_INVALID_ARGUMENT for a malformed conninfo, or
 * FLOW_RESOURCE_EXHAUSTED / FLOW_INTERNAL. */
int marker_start(const char *conninfo, int delay_ms, struct marker **out);

/*
 * Leaves the marking of the items ids (a PostgreSQL bigint[] literal)
 * claimed by owner ("worker:7") to m. False when m is NULL, stopping or
 * full, or out of memory: the caller then marks itself.
 */
bool marker_add(struct marker *m, const char *owner, const char *ids);

/* Runs what is pending, stops the thread and frees m. marker_stop(NULL) is
 * a no-op. */
void marker_stop(struct marker *m);

#endif
