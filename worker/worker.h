/*
 * worker.h - the flow-worker process: register, claim, run, heartbeat,
 * report, shut down.
 *
 * worker_run() registers with flowd (retrying while flowd cannot be
 * reached), then runs until *stop is set:
 *   - one claim thread: while slots are free, one long-poll Claim
 *     (max_items = free slots, wait_ms = cfg->claim_wait_ms) at a time;
 *   - a pool of cfg->concurrency threads, one agent each (runner.h); the
 *     built-in noop completes in the claim thread;
 *   - the heartbeat thread (heartbeat.h) and the reporter (reporter.h).
 * flowd going away is survived: calls back off (100 ms doubling to 5 s) and
 * retry, running agents continue, and their outcomes are reported when
 * flowd is back.
 *
 * Shutdown (*stop set): no new claims; running agents get
 * cfg->shutdown_grace_ms to finish (cut short when *hurry is set), then are
 * stopped (SIGTERM, SIGKILL after the kill grace) and reported as retryable
 * failures "worker shutting down"; outcomes are flushed for up to
 * cfg->rpc_timeout_ms. A Claim still waiting at that point is abandoned:
 * anything it still hands out is re-delivered after its lease.
 */
#ifndef FLOW_WORKER_WORKER_H
#define FLOW_WORKER_WORKER_H

#include "agents.h"
#include "config.h"
#include "stopflag.h"

/*
 * Runs the worker until *stop is set. Returns the process exit status: 0
 * after a clean stop, 1 when flowd refused the registration (bad token,
 * WorkerService missing, ...) or the worker could not start. When stopped
 * while the first RegisterWorker call is still waiting for flowd, it
 * returns at once and leaves that call behind: stop must then stay valid
 * until the process exits (flow-worker's are static).
 */
int worker_run(const struct worker_config *cfg, const agents *ag, struct stopflag *stop,
	       struct stopflag *hurry);

/*
 * fn (NULL: none) is called by worker_run with its exit status once the
 * worker has stopped and its outcomes are reported, just before its
 * connections to flowd are closed: flow-worker bounds that close with it.
 */
void worker_on_stopped(void (*fn)(int status));

#endif
