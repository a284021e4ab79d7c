#include "worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backoff.h"
#include "context.h"
#include "flow/v1/worker.pb-c.h"
#include "heartbeat.h"
#include "held.h"
#include "log.h"
#include "reporter.h"
#include "runner.h"
#include "session.h"
#include "status.h"

#define M_CLAIM "/flow.v1.WorkerService/Claim"
#define CLAIM_MAX_ITEMS 500
#define DEFAULT_AGENT "default"
#define POOL_STACK (512 * 1024)
#define SHUTTING_DOWN "worker shutting down"

enum claim_state { CLAIM_IDLE, CLAIM_IN_CALL, CLAIM_DISPATCHING, CLAIM_DONE };

struct job {
	int64_t id;
	int32_t attempt;
	const struct agent *agent;
	char *input;
	size_t input_len;
	char **env;
	char label[160];
	struct job *next;
};

struct worker {
	const struct worker_config *cfg;
	const agents *ag;
	struct stopflag *stop, *hurry;
	session *s;
	held_set *h;
	reporter *rep;
	heartbeat *hb;

	pthread_mutex_t mu;
	pthread_cond_t cv;	 /* claim state */
	pthread_cond_t pool_cv;	 /* jobs queued (one waiter each), pool closed */
	struct job *head, *tail; /* jobs waiting for a pool thread */
	bool pool_closed;
	pthread_t *pool;
	int n_pool;

	pthread_t claimer;
	bool claimer_started;
	enum claim_state claim;
	bool closing;	/* no new Claim may start */
	bool abandoned; /* the Claim in flight is left behind */

	bool reg_done;	    /* register_main finished, with reg_rc */
	bool reg_abandoned; /* ... or was left behind */
	int reg_rc;
	int refs; /* worker_run + threads left behind */
};

static void worker_free(struct worker *w);

/* Drops a reference; the last one frees w. */
static void worker_release(struct worker *w)
{
	bool last;

	pthread_mutex_lock(&w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		worker_free(w);
}

/* ---- outcomes ------------------------------------------------------------- */

/* started_us: when the agent started (CLOCK_REALTIME µs), 0 when it did not. */
static char *metadata_json(const struct worker *w, const char *agent,
			   const struct runner_result *res, long long started_us)
{
	json_t *o = json_object();
	char *text;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "worker", json_string(w->cfg->name));
	json_object_set_new(o, "agent", json_string(agent));
	if (started_us > 0)
		json_object_set_new(o, "startedAtUs", json_integer(started_us));
	if (res != NULL) {
		json_object_set_new(o, "durationMs", json_integer(res->duration_ms));
		json_object_set_new(o, "exitStatus",
				    res->exit_code >= 0 ? json_integer(res->exit_code)
							: json_null());
		json_object_set_new(o, "signal", json_integer(res->signal));
		json_object_set_new(o, "outputTruncated", json_boolean(res->truncated));
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static const char *outcome_word(bool success, bool retryable)
{
	return success ? "completed" : retryable ? "retry" : "failed";
}

/* Logs the finish line and hands the outcome to the reporter. */
static void report(struct worker *w, struct outcome *o, const char *agent, long long ms)
{
	if (o->success)
		log_info("item.finish",
			 "item=%lld agent=%s attempt=%d outcome=completed "
			 "duration_ms=%lld",
			 (long long)o->id, agent, o->attempt, ms);
	else
		log_info("item.finish",
			 "item=%lld agent=%s attempt=%d outcome=%s duration_ms=%lld "
			 "error=\"%s\"",
			 (long long)o->id, agent, o->attempt, outcome_word(false, o->retryable), ms,
			 o->error ? o->error : "");
	reporter_add(w->rep, o);
}

/* An outcome decided without running an agent (noop, unknown agent,
 * shutdown). The item must be held. */
static void report_now(struct worker *w, int64_t id, int32_t attempt, const char *agent,
		       bool success, const char *error)
{
	struct outcome *o = calloc(1, sizeof(*o));

	held_finish(w->h, id, attempt);
	if (o == NULL || (!success && (o->error = strdup(error)) == NULL) ||
	    (success && (o->notes = strdup("noop")) == NULL)) {
		log_error("item.oom", "item=%lld: out of memory; its lease will expire",
			  (long long)id);
		held_remove(w->h, id, attempt);
		outcome_free(o);
		return;
	}
	o->id = id;
	o->attempt = attempt;
	o->success = success;
	o->retryable = !success;
	/* a success here is a built-in agent that has just run */
	o->metadata = metadata_json(w, agent, NULL, success ? runner_realtime_us() : 0);
	report(w, o, agent, 0);
}

/* The outcome of an agent that ran; takes res->output. */
static void conclude(struct worker *w, struct job *j, struct runner_result *res, enum held_stop why)
{
	struct outcome *o;

	if (why == HELD_CANCELLED || why == HELD_LOST) {
		log_info("item.finish",
			 "item=%lld agent=%s attempt=%d outcome=dropped "
			 "duration_ms=%lld reason=\"%s\"",
			 (long long)j->id, j->agent->id, j->attempt, res->duration_ms,
			 why == HELD_CANCELLED ? "cancelled" : "lease lost");
		held_remove(w->h, j->id, j->attempt);
		return;
	}
	if (why == HELD_SHUTDOWN && res->cancelled)
		snprintf(res->error, sizeof(res->error), SHUTTING_DOWN);
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		held_remove(w->h, j->id, j->attempt);
		return;
	}
	o->id = j->id;
	o->attempt = j->attempt;
	o->success = res->outcome == RUNNER_COMPLETED;
	o->retryable = res->outcome == RUNNER_RETRY;
	if (o->success) {
		o->notes = res->output;
		res->output = NULL;
	} else {
		o->error = strdup(res->error);
	}
	o->metadata = metadata_json(w, j->agent->id, res, res->started_at_us);
	report(w, o, j->agent->id, res->duration_ms);
}

/* ---- running one job --------------------------------------------------------- */

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->input);
	context_env_free(j->env);
	free(j);
}

static void job_spec(const struct worker *w, const struct job *j, struct runner_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->argv = j->agent->argv;
	spec->envp = j->env;
	spec->input = j->input;
	spec->input_len = j->input_len;
	spec->timeout_s = j->agent->timeout_s ? j->agent->timeout_s : (int)w->cfg->agent_timeout_s;
	spec->kill_grace_ms = (int)w->cfg->kill_grace_ms;
	spec->max_output = (size_t)w->cfg->max_output;
	spec->label = j->label;
}

/* The agent could not start (or was stopped before it did). */
static void not_started(struct worker *w, struct job *j, enum held_stop why, const char *err)
{
	struct runner_result res;

	memset(&res, 0, sizeof(res));
	res.outcome = RUNNER_RETRY;
	res.exit_code = -1;
	snprintf(res.error, sizeof(res.error), "%s", err);
	why = held_finish(w->h, j->id, j->attempt);
	conclude(w, j, &res, why);
}

static void run_job(struct worker *w, struct job *j)
{
	struct runner_spec spec;
	struct runner_result res;
	enum held_stop why = held_stop_asked(w->h, j->id, j->attempt);
	char err[512];
	runner *r;

	if (why == HELD_SHUTDOWN) {
		report_now(w, j->id, j->attempt, j->agent->id, false, SHUTTING_DOWN);
		return;
	}
	job_spec(w, j, &spec);
	if (why != HELD_KEEP)
		snprintf(err, sizeof(err), "not started");
	if (why != HELD_KEEP || runner_start(&spec, &r, err, sizeof(err)) != 0) {
		not_started(w, j, why, err);
		return;
	}
	if (held_attach(w->h, j->id, j->attempt, r) != HELD_KEEP)
		runner_cancel(r);
	log_info("item.start", "%s attempt=%d pid=%ld timeout_s=%d", j->label, j->attempt,
		 (long)runner_pid(r), spec.timeout_s);
	if (runner_wait(r, &res) != 0)
		snprintf(res.error, sizeof(res.error), "out of memory collecting the output");
	why = held_finish(w->h, j->id, j->attempt);
	runner_free(r);
	conclude(w, j, &res, why);
	runner_result_clear(&res);
}

/* ---- the pool ---------------------------------------------------------------- */

static void *pool_main(void *arg)
{
	struct worker *w = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->pool_closed)
			pthread_cond_wait(&w->pool_cv, &w->mu);
		if ((j = w->head) != NULL && (w->head = j->next) == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		if (j == NULL)
			return NULL;
		run_job(w, j);
		job_free(j);
	}
}

/* Queues j; false when the pool is closed (the caller keeps j). */
static bool pool_push(struct worker *w, struct job *j)
{
	bool ok;

	pthread_mutex_lock(&w->mu);
	ok = !w->pool_closed;
	if (ok) {
		j->next = NULL;
		if (w->tail)
			w->tail->next = j;
		else
			w->head = j;
		w->tail = j;
		pthread_cond_signal(&w->pool_cv); /* one job: one thread */
	}
	pthread_mutex_unlock(&w->mu);
	return ok;
}

static int pool_start(struct worker *w)
{
	pthread_attr_t attr;
	int rv = 0;

	w->pool = calloc((size_t)w->cfg->concurrency, sizeof(*w->pool));
	if (w->pool == NULL)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, POOL_STACK);
	for (long i = 0; i < w->cfg->concurrency && rv == 0; i++) {
		rv = pthread_create(&w->pool[i], &attr, pool_main, w);
		if (rv == 0)
			w->n_pool++;
	}
	pthread_attr_destroy(&attr);
	return rv == 0 ? 0 : -1;
}

/* Lets the pool threads finish what is queued, then joins them. */
static void pool_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->pool_closed = true;
	pthread_cond_broadcast(&w->pool_cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n_pool; i++)
		pthread_join(w->pool[i], NULL);
	w->n_pool = 0;
}

/* ---- claiming --------------------------------------------------------------- */

static const struct agent *resolve_agent(struct worker *w, const char *id, char *err, size_t errlen)
{
	const struct agent *ag;

	if (id == NULL || *id == '\0') {
		if ((ag = agents_find(w->ag, DEFAULT_AGENT)) == NULL)
			snprintf(err, errlen,
				 "the item names no agent and this worker has no "
				 "\"" DEFAULT_AGENT "\" agent");
		return ag;
	}
	if ((ag = agents_find(w->ag, id)) == NULL)
		snprintf(err, errlen, "agent \"%s\" is not configured on this worker", id);
	return ag;
}

static struct job *make_job(struct worker *w, const Flow__V1__ClaimedItem *ci,
			    const struct agent *ag)
{
	const Flow__V1__QueueItem *it = ci->item;
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->id = it->id;
	j->attempt = it->attempt;
	j->agent = ag;
	snprintf(j->label, sizeof(j->label), "item=%lld agent=%s", (long long)it->id, ag->id);
	if (context_json(ci, &j->input, &j->input_len) != 0 ||
	    context_env(ci, ag->id, w->cfg->url, w->cfg->pass_env, &j->env) != 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

static void run_builtin(struct worker *w, const Flow__V1__QueueItem *it, const struct agent *ag)
{
	log_info("item.start", "item=%lld agent=%s attempt=%d (built in)", (long long)it->id,
		 ag->id, it->attempt);
	report_now(w, it->id, it->attempt, ag->id, true, NULL);
}

static void dispatch(struct worker *w, const Flow__V1__ClaimedItem *ci)
{
	const Flow__V1__QueueItem *it = ci->item;
	const struct agent *ag;
	struct job *j;
	char err[256];

	if (it == NULL || !it->has_id) {
		log_warn("claim.bad_item", "flowd sent a claimed item without an id; ignored");
		return;
	}
	if (held_add(w->h, it->id, it->attempt) != 0) {
		log_error("item.oom", "item=%lld: out of memory; its lease will expire",
			  (long long)it->id);
		return;
	}
	ag = resolve_agent(w, it->agent_id, err, sizeof(err));
	if (ag == NULL)
		report_now(w, it->id, it->attempt, it->agent_id ? it->agent_id : "", false, err);
	else if (stopflag_is_set(w->stop))
		report_now(w, it->id, it->attempt, ag->id, false, SHUTTING_DOWN);
	else if (agent_is_builtin(ag))
		run_builtin(w, it, ag);
	else if ((j = make_job(w, ci, ag)) == NULL)
		report_now(w, it->id, it->attempt, ag->id, false,
			   "out of memory preparing the agent");
	else if (!pool_push(w, j)) {
		job_free(j);
		report_now(w, it->id, it->attempt, ag->id, false, SHUTTING_DOWN);
	}
}

/* Moves the claim state; false when the worker is closing (or the Claim was
 * abandoned) and the claim thread must stop. */
static bool claim_enter(struct worker *w, enum claim_state st)
{
	bool ok;

	pthread_mutex_lock(&w->mu);
	ok = !w->abandoned && !(st == CLAIM_IN_CALL && w->closing);
	if (ok)
		w->claim = st;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return ok;
}

/*
 * One Claim for up to free_slots items, and their dispatch. Returns the
 * call's code, or -1 when the worker is closing: the claim thread must
 * then end without touching anything but w->mu (when the Claim was
 * abandoned, the rest of the worker may be gone).
 */
static int claim_once(struct worker *w, int free_slots, struct rpc_status *st)
{
	Flow__V1__ClaimRequest req = FLOW__V1__CLAIM_REQUEST__INIT;
	Flow__V1__ClaimResponse *resp = NULL;
	int rc;

	req.has_worker_id = 1;
	req.has_max_items = 1;
	req.max_items = free_slots < CLAIM_MAX_ITEMS ? free_slots : CLAIM_MAX_ITEMS;
	req.has_wait_ms = 1;
	req.wait_ms = (int32_t)w->cfg->claim_wait_ms;
	if (!claim_enter(w, CLAIM_IN_CALL))
		return -1;
	rc = session_call(w->s, SESSION_CLAIM, M_CLAIM, &req.base, &req.worker_id,
			  (ProtobufCMessage **)&resp, st);
	if (!claim_enter(w, CLAIM_DISPATCHING)) {
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return -1;
	}
	for (size_t i = 0; rc == FLOW_OK && i < resp->n_items; i++)
		dispatch(w, resp->items[i]);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	claim_enter(w, CLAIM_IDLE);
	return rc;
}

static void *claim_main(void *arg)
{
	struct worker *w = arg;
	struct backoff bo;
	struct rpc_status st;
	bool failing = false;
	int rc, free_slots;

	backoff_init(&bo, 100, 5000);
	while (!stopflag_is_set(w->stop)) {
		if ((free_slots = held_wait_free(w->h, 250)) == 0)
			continue;
		if ((rc = claim_once(w, free_slots, &st)) < 0)
			break;
		if (rc == FLOW_OK) {
			if (failing)
				log_info("claim.recovered", "claiming from flowd again");
			failing = false;
			backoff_reset(&bo);
			continue;
		}
		if (!failing)
			log_warn("claim.failed", "Claim failed: %s: %s; retrying with back-off",
				 status_name(rc), st.message);
		failing = true;
		stopflag_sleep(w->stop, backoff_next(&bo, (int)st.retry_after_ms));
	}
	if (!claim_enter(w, CLAIM_DONE))
		worker_release(w); /* left behind: worker_run took a reference for us */
	return NULL;
}

/* ---- start and stop -------------------------------------------------------- */

/* Registers, retrying while flowd cannot be reached. 0, 1 (refused) or
 * -1 (stopped first). */
static int register_first(struct worker *w)
{
	struct backoff bo;
	struct rpc_status st;
	bool warned = false;
	int rc;

	backoff_init(&bo, 100, 5000);
	while ((rc = session_register(w->s, -1, &st)) != FLOW_OK) {
		if (!session_transient(rc)) {
			log_error("worker.register_failed",
				  "flowd at %s refused to register this "
				  "worker: %s: %s",
				  w->cfg->url, status_name(rc), st.message);
			return 1;
		}
		if (!warned)
			log_warn("worker.waiting", "cannot reach flowd at %s (%s: %s); retrying",
				 w->cfg->url, status_name(rc), st.message);
		warned = true;
		if (stopflag_sleep(w->stop, backoff_next(&bo, (int)st.retry_after_ms)))
			return -1;
	}
	return 0;
}

static void *register_main(void *arg)
{
	struct worker *w = arg;
	int rc = register_first(w);

	bool abandoned;

	pthread_mutex_lock(&w->mu);
	w->reg_rc = rc;
	w->reg_done = true;
	abandoned = w->reg_abandoned;
	pthread_mutex_unlock(&w->mu);
	if (abandoned)
		worker_release(w);
	return NULL;
}

/*
 * The first registration runs in a thread of its own so that a SIGTERM
 * while flowd is unreachable ends the process at once rather than after
 * the call's deadline. Returns register_first's result, or -2 when the
 * worker stopped first and the thread was left behind (it still uses w).
 */
static int register_interruptible(struct worker *w)
{
	pthread_t th;
	bool done = false;

	if (pthread_create(&th, NULL, register_main, w) != 0)
		return register_first(w);
	while (!done && !stopflag_sleep(w->stop, 50)) {
		pthread_mutex_lock(&w->mu);
		done = w->reg_done;
		pthread_mutex_unlock(&w->mu);
	}
	pthread_mutex_lock(&w->mu);
	done = w->reg_done;
	if (!done) {
		w->reg_abandoned = true;
		w->refs++;
	}
	pthread_mutex_unlock(&w->mu);
	if (!done) {
		pthread_detach(th);
		return -2;
	}
	pthread_join(th, NULL);
	return w->reg_rc;
}

static int open_session(struct worker *w)
{
	size_t n = agents_count(w->ag);
	const char **ids = calloc(n, sizeof(*ids));
	struct session_opts o = { 0 };
	char err[1024];
	int rc;

	if (ids == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		ids[i] = agents_get(w->ag, i)->id;
	o.url = w->cfg->url;
	o.token = w->cfg->token;
	o.name = w->cfg->name;
	o.agent_ids = ids;
	o.n_agents = n;
	o.capacity = (int)w->cfg->concurrency;
	o.rpc_timeout_ms = (int)w->cfg->rpc_timeout_ms;
	o.claim_wait_ms = (int)w->cfg->claim_wait_ms;
	rc = session_open(&o, &w->s, err, sizeof(err));
	free(ids);
	if (rc != FLOW_OK)
		log_error("worker.start_failed", "%s", err);
	return rc == FLOW_OK ? 0 : -1;
}

static int start_threads(struct worker *w)
{
	if (held_new((int)(w->cfg->concurrency + w->cfg->prefetch), &w->h) != 0 ||
	    reporter_start(w->s, w->h, &w->rep) != 0 || heartbeat_start(w->s, w->h, &w->hb) != 0 ||
	    pool_start(w) != 0) {
		log_error("worker.start_failed", "cannot start the worker's threads");
		return -1;
	}
	if (pthread_create(&w->claimer, NULL, claim_main, w) != 0) {
		log_error("worker.start_failed", "cannot start the claim thread");
		return -1;
	}
	w->claimer_started = true;
	return 0;
}

/* Running agents get the grace, then are stopped. */
static void stop_agents(struct worker *w)
{
	long long until = stopflag_now_ms() + w->cfg->shutdown_grace_ms;
	int busy = held_wait_idle(w->h, 0);

	if (busy > 0)
		log_info("worker.draining", "waiting up to %ld ms for %d running agents",
			 w->cfg->shutdown_grace_ms, busy);
	while (busy > 0 && stopflag_now_ms() < until && !stopflag_is_set(w->hurry))
		busy = held_wait_idle(w->h, 100);
	if (busy > 0) {
		log_info("worker.stopping_agents",
			 "stopping %d agents (reported as retryable: " SHUTTING_DOWN ")", busy);
		held_stop_all(w->h, HELD_SHUTDOWN);
	}
	pool_stop(w);
}

/* Leaves a Claim that is still waiting behind; joins the thread otherwise.
 * Returns true when the claim thread was abandoned. */
static bool stop_claimer(struct worker *w)
{
	bool abandon;

	if (!w->claimer_started)
		return false;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	while (w->claim == CLAIM_DISPATCHING)
		pthread_cond_wait(&w->cv, &w->mu);
	abandon = w->claim == CLAIM_IN_CALL;
	w->abandoned = abandon;
	if (abandon)
		w->refs++; /* the claim thread frees w if it ends last */
	pthread_mutex_unlock(&w->mu);
	if (abandon)
		pthread_detach(w->claimer);
	else
		pthread_join(w->claimer, NULL);
	return abandon;
}

static void shutdown_all(struct worker *w)
{
	size_t left;

	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_mutex_unlock(&w->mu);
	if (w->h)
		stop_agents(w);
	stop_claimer(w);
	if (w->rep && (left = reporter_flush(w->rep, (int)w->cfg->rpc_timeout_ms)) > 0)
		log_warn("worker.unflushed", "%zu outcomes could not be reported in time", left);
	heartbeat_stop(w->hb);
	reporter_stop(w->rep);
	w->hb = NULL;
	w->rep = NULL;
	pool_stop(w);
}

static void worker_free(struct worker *w)
{
	held_free(w->h);
	session_close(w->s);
	free(w->pool);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->pool_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void (*on_stopped)(int status);

void worker_on_stopped(void (*fn)(int status))
{
	on_stopped = fn;
}

int worker_run(const struct worker_config *cfg, const agents *ag, struct stopflag *stop,
	       struct stopflag *hurry)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc = 1;

	if (w == NULL)
		return 1;
	*w = (struct worker){ .cfg = cfg, .ag = ag, .stop = stop, .hurry = hurry, .refs = 1 };
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_cond_init(&w->pool_cv, NULL);
	if (open_session(w) != 0)
		goto out;
	if ((rc = register_interruptible(w)) == -2) {
		log_info("worker.stopped", "stopped before registering");
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (start_threads(w) != 0) {
		stopflag_set(stop);
		rc = 1;
	} else {
		log_info("worker.ready", "%s: claiming for %zu agents, concurrency %ld, prefetch %ld",
			 cfg->name, agents_count(ag), cfg->concurrency, cfg->prefetch);
		stopflag_sleep(stop, -1);
		log_info("worker.stopping", "stopping: no new claims");
	}
	shutdown_all(w);
	log_info("worker.stopped", "stopped");
	if (on_stopped != NULL)
		on_stopped(rc);
out:
	worker_release(w);
	return rc;
}
