/*
 * waiters.h - parked long-poll requests (Claim with wait_ms) and what wakes
 * them.
 *
 * A parked request holds no service thread and no database connection: it
 * is a node on a list, embedded in the caller's request context. One thread
 * per flowd watches three things and hands nodes back through ops->wake():
 *   - PostgreSQL notifications on channel "flow_ready" (sent once per
 *     statement that makes items ready, by any flowd): wakes as many of the
 *     oldest nodes as items became ready;
 *   - every poll_ms, a count of ready items (delayed items whose time came,
 *     slots freed by completions elsewhere): wakes that many;
 *   - each node's own deadline.
 * waiters_kick() wakes nodes at once (used after a local completion frees a
 * slot); waiters_kick_own() does so for items this flowd's own statement
 * made ready, ahead of that statement's notification, which is then not
 * counted again. The woken request is simply handled again.
 */
#ifndef FLOW_WAITERS_H
#define FLOW_WAITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct waiters waiters;

/* Embedded in the parked request; owned by its embedder. */
struct waiter_node {
	struct waiter_node *prev, *next;
	int64_t until_ms; /* CLOCK_MONOTONIC ms */
};

struct waiters_ops {
	/* Called from the waiters thread (or from waiters_kick / _stop) with
	 * the node removed from the list; must not block. */
	void (*wake)(struct waiter_node *node, void *arg);
	void *arg;
	int poll_ms;
};

/* Starts the thread; conninfo is for the LISTEN connection (a database
 * that is down is retried in the background). */
int waiters_start(const char *conninfo, const struct waiters_ops *ops, waiters **out,
		  char *err, size_t errlen);

/* Parks node until node->until_ms or an earlier wake-up. */
void waiters_park(waiters *w, struct waiter_node *node);

/* Parks node ahead of every other: the next wake-up of one node is its. */
void waiters_park_first(waiters *w, struct waiter_node *node);

/* Takes node off the list without waking it; true if it was parked. */
bool waiters_unpark(waiters *w, struct waiter_node *node);

/* Wakes up to n of the oldest parked nodes now. */
void waiters_kick(waiters *w, int n);

/* waiters_kick on the most recently started waiters of this process (the
 * running flowd's); handlers call it after freeing a queue slot. */
void waiters_kick_current(int n);

/*
 * Wakes n nodes of the current waiters for n items that a committed
 * statement on this flowd's connection to backend be_pid made ready. The
 * notification that statement sent (from be_pid, counting the same items)
 * wakes no one more when it arrives; if it arrived first, only the part of
 * n it did not already cover is woken. Only nodes actually woken are
 * matched, so a claim that parks between the two is still woken by the
 * second. Unmatched counts expire after two seconds, so a backend pid
 * reused later is not mistaken for ours.
 */
void waiters_kick_own(int be_pid, int n);

/* Parked nodes right now. */
size_t waiters_count(waiters *w);

/* Stops the thread and wakes every parked node. waiters_stop(NULL) is a
 * no-op. */
void waiters_stop(waiters *w);

#endif
