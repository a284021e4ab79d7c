#!/usr/bin/env node
// The security-hardening plan, driven through flowd's MCP server (`flowctl mcp`)
// with the official MCP TypeScript SDK, exactly as an AI client would:
//
//   1. list projects, create one (or use --project-id), overview;
//   2. create the "Security Hardening" queue (maxParallelItems 1), the 14 tickets
//      of plan.json and their tasks, and enqueue the tickets in priority order;
//   3. processor_get_next -> agent work on each task -> tasks_update ->
//      processor_complete, until get_next finds nothing; queues_get_stats,
//      tickets_list;
//   4. hand REVIEW-1's tasks to the running flow-workers on an "Agent work" queue
//      (agent demo-note), wait until they are done and show their notes.
//
// Every result is checked; any failure prints a message and exits 1.
//
// Usage: node workflow.mjs [--project-id N] [--json-summary FILE] [--skip-workers]
//                          [--worker-timeout SECONDS] [--plan FILE]
// Environment: FLOWCTL (flowctl binary, default: flowctl on PATH), FLOW_URL,
// FLOW_TOKEN / FLOW_API_KEY / FLOW_CREDENTIALS (flowctl's credentials),
// FLOW_DEMO_AGENT (the agent run for part 3, default ../../deploy/agents/demo-note).

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- command line ----

const USAGE = `usage: node workflow.mjs [--project-id N] [--json-summary FILE] [--skip-workers]
                        [--worker-timeout SECONDS] [--plan FILE]

  --project-id N          use project N instead of creating a project
  --json-summary FILE     also write a JSON summary of the run to FILE
  --skip-workers          skip the last part (REVIEW-1's tasks run by flow-workers)
  --worker-timeout S      how long to wait for the workers (default 60)
  --plan FILE             the plan (default: plan.json beside this script)

Environment: FLOWCTL (default: flowctl on PATH), FLOW_URL, FLOW_TOKEN, FLOW_API_KEY,
FLOW_CREDENTIALS, FLOW_DEMO_AGENT (default: deploy/agents/demo-note of the repository).`;

class Failure extends Error {}

function fail(message) {
  throw new Failure(message);
}

function parseArgs(argv) {
  const opts = {
    projectId: null,
    summary: null,
    skipWorkers: false,
    workerTimeout: 60,
    plan: path.join(here, 'plan.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      if (eq > 0 && a.startsWith('--')) return a.slice(eq + 1);
      if (i + 1 >= argv.length) fail(`${name} needs a value\n${USAGE}`);
      return argv[++i];
    };
    switch (name) {
      case '--project-id': {
        const v = value();
        if (!/^[1-9][0-9]{0,17}$/.test(v)) fail(`--project-id: expected a positive integer, got "${v}"`);
        opts.projectId = Number(v);
        break;
      }
      case '--json-summary':
        opts.summary = value();
        break;
      case '--skip-workers':
        opts.skipWorkers = true;
        break;
      case '--worker-timeout': {
        const v = value();
        if (!/^[1-9][0-9]{0,5}$/.test(v)) fail(`--worker-timeout: expected seconds, got "${v}"`);
        opts.workerTimeout = Number(v);
        break;
      }
      case '--plan':
        opts.plan = value();
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown argument "${a}"\n${USAGE}`);
    }
  }
  return opts;
}

// ---- output ----

const say = (...a) => console.log(...a);
const section = (title) => console.log(`\n== ${title}`);
const oneLine = (s, n = 110) => {
  const t = String(s ?? '').replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 3)}...` : t;
};

// ---- checks ----

function check(cond, what) {
  if (!cond) fail(`check failed: ${what}`);
}

function isId(v) {
  return Number.isSafeInteger(v) && v > 0;
}

function checkId(obj, key, what) {
  const v = obj?.[key];
  check(isId(v), `${what}: expected a positive id in "${key}", got ${JSON.stringify(v)}`);
  return v;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

// ---- the MCP connection ----

class Flow {
  constructor(client) {
    this.client = client;
    this.calls = 0;
  }

  // Calls a tool; returns structuredContent. A tool error (isError) is thrown
  // as a Failure unless expectCode names the error code expected, in which
  // case the error object is returned.
  async call(tool, args, expectCode = null) {
    this.calls++;
    let res;
    try {
      res = await this.client.callTool({ name: tool, arguments: args });
    } catch (e) {
      fail(`${tool} ${JSON.stringify(args)}: the MCP request failed: ${e.message}`);
    }
    const what = `${tool} ${args.action}`;
    check(Array.isArray(res.content) && res.content.length >= 1, `${what}: result has content`);
    const first = res.content[0];
    check(first.type === 'text' && typeof first.text === 'string', `${what}: content[0] is text`);
    const sc = res.structuredContent;
    check(sc !== null && typeof sc === 'object' && !Array.isArray(sc), `${what}: structuredContent is an object`);

    if (res.isError) {
      const err = sc.error;
      check(err && typeof err.code === 'string' && typeof err.message === 'string',
        `${what}: an error result has structuredContent.error {code, message}`);
      check(first.text.startsWith(`Error (${err.code}): ${err.message}`), `${what}: error text is "Error (${err.code}): <message>"`);
      if (err.suggestion !== undefined) {
        check(typeof err.suggestion === 'string' && first.text.includes(`\nSuggestion: ${err.suggestion}`),
          `${what}: the error text ends with the suggestion`);
      }
      if (expectCode === null) {
        fail(`${what} ${JSON.stringify(args)} failed: ${first.text}`);
      }
      check(err.code === expectCode, `${what}: expected error ${expectCode}, got ${err.code}: ${err.message}`);
      return err;
    }
    if (expectCode !== null) fail(`${what}: expected error ${expectCode}, but it succeeded`);
    let parsed;
    try {
      parsed = JSON.parse(first.text);
    } catch (e) {
      fail(`${what}: content[0].text is not JSON: ${e.message}`);
    }
    check(deepEqual(parsed, sc), `${what}: content text and structuredContent hold the same object`);
    return sc;
  }

  project(args, expectCode) {
    return this.call('project_manager', args, expectCode);
  }

  flow(args, expectCode) {
    return this.call('flow_manager', args, expectCode);
  }
}

async function connect() {
  const command = process.env.FLOWCTL || 'flowctl';
  let negotiated = null;
  // StdioClientTransport's default environment keeps only a few variables
  // (HOME, PATH, ...): pass ours, so flowctl sees FLOW_URL and the credentials.
  const transport = new StdioClientTransport({
    command,
    args: ['mcp'],
    env: { ...process.env },
    stderr: 'inherit',
  });
  // The SDK tells an HTTP transport the negotiated version this way; the stdio
  // transport has no use for it, so it is a handy place to learn it.
  transport.setProtocolVersion = (v) => {
    negotiated = v;
  };
  const client = new Client({ name: 'flowd-security-hardening-example', version: '0.1.0' });
  try {
    await client.connect(transport);
  } catch (e) {
    fail(`cannot start "${command} mcp" or initialize the MCP session: ${e.message}` +
      (e.code === 'ENOENT' ? ' (set FLOWCTL to the flowctl binary)' : ''));
  }
  return { client, transport, negotiated: () => negotiated };
}

// ---- the agent ("agent work" of part 3) ----

function agentPath() {
  return process.env.FLOW_DEMO_AGENT || path.resolve(here, '../../deploy/agents/demo-note');
}

// Runs the agent as flow-worker would: no shell, the item context as one JSON
// line on stdin, a minimal environment with the FLOW_* item variables; exit 0
// completes, stdout is the completion note.
function runAgent(context, agentId) {
  const cmd = agentPath();
  const env = {};
  for (const k of ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  if (!env.PATH) env.PATH = '/usr/local/bin:/usr/bin:/bin';
  const item = context.queueItem;
  Object.assign(env, {
    FLOW_QUEUE_ITEM_ID: String(item.id),
    FLOW_QUEUE_ID: String(item.queueId),
    FLOW_TICKET_ID: String(context.ticket.id),
    FLOW_PROJECT_ID: String(context.project.id),
    FLOW_ATTEMPT: String(context.attempt),
    FLOW_AGENT_ID: agentId,
  });
  if (context.task) env.FLOW_TASK_ID = String(context.task.id);
  if (process.env.FLOW_URL) env.FLOW_URL = process.env.FLOW_URL;

  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const child = spawn(cmd, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Failure(`cannot run the agent ${cmd}: ${e.message} (set FLOW_DEMO_AGENT)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim());
      else reject(new Failure(`agent ${cmd} ${signal ? `killed by ${signal}` : `exited with status ${code}`}: ${oneLine(err)}`));
    });
    child.stdin.on('error', () => {}); // an agent that does not read stdin is fine
    child.stdin.end(`${JSON.stringify(context)}\n`);
  });
}

// ---- the workflow ----

function loadPlan(file) {
  let plan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`cannot read the plan ${file}: ${e.message}`);
  }
  check(Array.isArray(plan.tickets) && plan.tickets.length === 14, 'the plan has 14 tickets');
  for (const t of plan.tickets) {
    check(typeof t.key === 'string' && Array.isArray(t.tasks) && t.tasks.length > 0, `plan ticket ${t.key} has tasks`);
  }
  return plan;
}

const PM_ACTIONS = ['list', 'get', 'create', 'overview'];
const FM_ACTIONS = [
  'queues_create', 'queues_list', 'queues_get_stats', 'tickets_create', 'tickets_get', 'tickets_list',
  'tickets_update', 'tasks_create', 'tasks_list', 'tasks_list_by_ticket', 'tasks_update',
  'queues_add_item', 'enqueue_ticket', 'enqueue_task', 'processor_get_next', 'processor_complete',
];

async function checkTools(client) {
  section('tools/list');
  const { tools } = await client.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const [name, needed] of [['project_manager', PM_ACTIONS], ['flow_manager', FM_ACTIONS]]) {
    const tool = byName[name];
    check(tool, `the server offers the tool ${name}`);
    const actions = tool.inputSchema?.properties?.action?.enum;
    check(Array.isArray(actions) && actions.length > 0, `${name}: inputSchema.properties.action has an enum`);
    for (const a of needed) check(actions.includes(a), `${name}: the action enum lists ${a}`);
    say(`${name}: ${actions.length} actions (${oneLine(tool.description, 80)})`);
  }
  return tools.map((t) => t.name);
}

async function setUpProject(flow, plan, opts) {
  section('project_manager list / create / overview');
  const list = await flow.project({ action: 'list' });
  check(Array.isArray(list.projects), 'list returns projects[]');
  say(`${list.projects.length} project(s) visible`);
  let project;
  if (opts.projectId !== null) {
    project = await flow.project({ action: 'get', projectId: opts.projectId });
    check(project.id === opts.projectId, 'get returns the project asked for');
    say(`using project ${project.id} "${project.name}"`);
  } else {
    project = await flow.project({ action: 'create', data: plan.project });
    checkId(project, 'id', 'create');
    check(project.name === plan.project.name, 'the created project has the plan\'s name');
    say(`created project ${project.id} "${project.name}"`);
  }
  const overview = await flow.project({ action: 'overview', projectId: project.id });
  check(overview.project?.id === project.id, 'overview is of the project');
  say(`overview: ${overview.openTicketCount ?? 0} open, ${overview.inProgressTicketCount ?? 0} in progress, ` +
    `${overview.closedTicketCount ?? 0} closed tickets; ${(overview.queues ?? []).length} queue(s)`);
  return project;
}

// A queue name not yet used in the project (a rerun with --project-id).
async function freeQueueName(flow, projectId, name) {
  const { queues = [] } = await flow.flow({ action: 'queues_list', projectId });
  const used = new Set(queues.map((q) => q.name));
  let n = 1;
  let candidate = name;
  while (used.has(candidate)) candidate = `${name} #${++n}`;
  return candidate;
}

async function createQueue(flow, projectId, spec) {
  const data = {
    name: await freeQueueName(flow, projectId, spec.name),
    description: spec.description,
    maxParallelItems: spec.maxParallelItems,
  };
  if (spec.defaultAgentId) data.defaultAgentId = spec.defaultAgentId;
  const q = await flow.flow({ action: 'queues_create', projectId, data });
  checkId(q, 'id', 'queues_create');
  check(q.projectId === projectId, 'queues_create: the queue belongs to the project');
  check(q.maxParallelItems === spec.maxParallelItems, `queues_create: maxParallelItems ${spec.maxParallelItems}`);
  if (spec.defaultAgentId) check(q.defaultAgentId === spec.defaultAgentId, 'queues_create: defaultAgentId');
  return q;
}

async function createTickets(flow, projectId, plan) {
  section(`tickets_create x${plan.tickets.length} and tasks_create`);
  const created = [];
  for (const t of plan.tickets) {
    const ticket = await flow.flow({
      action: 'tickets_create',
      projectId,
      data: {
        title: t.title,
        description: t.description,
        priority: t.priority,
        status: t.status,
        tags: t.tags,
        suggestedAgentIds: t.suggestedAgentIds,
      },
    });
    checkId(ticket, 'id', `tickets_create ${t.key}`);
    check(ticket.projectId === projectId, `${t.key}: ticket in the project`);
    check(ticket.title === t.title && ticket.overview === t.description, `${t.key}: title and description kept`);
    check(ticket.priority === t.priority, `${t.key}: priority ${t.priority}`);
    check(ticket.status === 'open', `${t.key}: status "pending" is stored as open, got ${ticket.status}`);
    check(deepEqual(ticket.tags, t.tags), `${t.key}: tags kept`);
    const tasks = [];
    for (const [i, k] of t.tasks.entries()) {
      const task = await flow.flow({
        action: 'tasks_create',
        ticketId: ticket.id,
        data: {
          content: k.content,
          description: k.description,
          status: k.status,
          estimatedHours: k.estimatedHours,
          tags: k.tags,
        },
      });
      checkId(task, 'id', `tasks_create ${t.key} #${i + 1}`);
      check(task.ticketId === ticket.id && task.status === 'pending' && task.done === false,
        `${t.key} #${i + 1}: a pending task of the ticket`);
      check(task.estimatedHours === k.estimatedHours && deepEqual(task.tags, k.tags),
        `${t.key} #${i + 1}: estimatedHours and tags kept`);
      tasks.push(task);
    }
    const hours = t.tasks.reduce((s, k) => s + k.estimatedHours, 0);
    say(`${t.key.padEnd(8)} ticket ${String(ticket.id).padEnd(4)} priority ${String(t.priority).padEnd(2)} ` +
      `${tasks.length} tasks, ${hours} h  ${oneLine(t.title, 70)}`);
    created.push({ key: t.key, plan: t, ticket, tasks, queuePriority: t.queuePriority ?? t.priority });
  }
  return created;
}

// Priority order: highest queue priority first; equal ones in plan order.
function priorityOrder(tickets) {
  return tickets
    .map((t, i) => ({ t, i }))
    .sort((a, b) => b.t.queuePriority - a.t.queuePriority || a.i - b.i)
    .map(({ t }) => t);
}

async function enqueueAll(flow, queueId, tickets) {
  section('enqueue in priority order');
  const order = priorityOrder(tickets);
  for (const [n, t] of order.entries()) {
    // Both vocabularies: the usage guide's queues_add_item {queueId, data:{ticketId, priority}}
    // for the first half, Promptliano's enqueue_ticket {queueId, ticketId, data:{priority}} after.
    const usageGuide = n < order.length / 2;
    const res = usageGuide
      ? await flow.flow({ action: 'queues_add_item', queueId, data: { ticketId: t.ticket.id, priority: t.queuePriority } })
      : await flow.flow({ action: 'enqueue_ticket', queueId, ticketId: t.ticket.id, data: { priority: t.queuePriority } });
    check(Array.isArray(res.items) && res.items.length === 1, `${t.key}: one queue item made`);
    const item = res.items[0];
    checkId(item, 'id', `enqueue ${t.key}`);
    check(item.queueId === queueId && item.ticketId === t.ticket.id && item.itemType === 'ticket',
      `${t.key}: a ticket item of the queue`);
    check(item.status === 'queued' && item.priority === t.queuePriority, `${t.key}: queued with priority ${t.queuePriority}`);
    t.itemId = item.id;
    say(`${usageGuide ? 'queues_add_item' : 'enqueue_ticket '} ${t.key.padEnd(8)} -> item ${item.id}, priority ${item.priority}`);
  }
  return order;
}

// Deliberate mistakes: each must be a tool error with the right code.
async function showErrors(flow, queueId, first) {
  section('error handling (deliberate mistakes)');
  const seen = [];
  const e1 = await flow.flow({ action: 'queues_add_item', queueId, data: { ticketId: first.ticket.id, priority: 1 } }, 'ALREADY_EXISTS');
  const show = (what, e) => {
    say(`${what.padEnd(24)} -> ${e.code}: ${oneLine(e.message, 80)}`);
    if (e.suggestion) say(`${''.padEnd(28)}suggestion: ${oneLine(e.suggestion, 80)}`);
  };
  show(`enqueue ${first.key} twice`, e1);
  const e2 = await flow.flow({ action: 'tickets_explode', projectId: first.ticket.projectId }, 'INVALID_ARGUMENT');
  show('unknown action', e2);
  const e3 = await flow.flow({ action: 'tickets_get', ticketId: 999999999 }, 'NOT_FOUND');
  show('tickets_get of no ticket', e3);
  seen.push(e1, e2, e3);
  return seen.map((e) => e.code);
}

async function processQueue(flow, queueId, project, tickets, expected) {
  section('processor_get_next -> agent work -> tasks_update -> processor_complete');
  const byId = new Map(tickets.map((t) => [t.ticket.id, t]));
  const processed = [];
  const total = tickets.length;
  for (;;) {
    const next = await flow.flow({ action: 'processor_get_next', queueId });
    if (next.found !== true) {
      check(next.found === false || next.found === undefined, 'get_next: found is a boolean');
      say(`processor_get_next: nothing more (${next.message})`);
      break;
    }
    check(processed.length < total, 'get_next hands out no more items than were enqueued');
    const itemId = checkId(next, 'queueItemId', 'processor_get_next');
    const t = byId.get(next.ticketId);
    check(t, `get_next returned a ticket of this plan (ticket ${next.ticketId})`);
    check(next.item?.id === itemId && next.item.status === 'in_progress', `${t.key}: the item is in progress`);
    check(itemId === t.itemId, `${t.key}: the item enqueued for it`);
    check(next.ticket?.id === t.ticket.id && next.ticket.status === 'in_progress', `${t.key}: the ticket is in progress`);
    const want = expected[processed.length];
    check(want === t, `priority order: expected ${want.key} as item ${processed.length + 1}, got ${t.key}`);
    const tasks = next.tasks ?? [];
    check(tasks.length === t.tasks.length, `${t.key}: get_next lists its ${t.tasks.length} tasks`);
    const agent = next.agentId || '(none)';
    say(`[${processed.length + 1}/${total}] ${t.key} item ${itemId} (ticket ${t.ticket.id}, priority ${next.item.priority}, ` +
      `agent ${agent}): ${tasks.length} tasks`);

    for (const task of tasks) {
      check(t.tasks.some((k) => k.id === task.id), `${t.key}: task ${task.id} is one it was given`);
      // "agent work": what flow-worker would feed the agent for this task.
      const context = { queueItem: next.item, ticket: next.ticket, task, project, attempt: next.item.attempt };
      const note = await runAgent(context, 'demo-note');
      check(note.length > 0, `${t.key}: the agent wrote a note for task ${task.id}`);
      const upd = await flow.flow({ action: 'tasks_update', taskId: task.id, data: { status: 'completed', completionNotes: note } });
      check(upd.id === task.id && upd.status === 'completed' && upd.done === true, `task ${task.id} completed and done`);
      check(upd.completionNotes === note, `task ${task.id}: the note is kept`);
      say(`    task ${task.id}: ${oneLine(note, 100)}`);
    }

    // processor_complete in both shapes: the usage guide's {itemId, data:{completionNotes}}
    // and Promptliano's {data:{queueItemId, result:{success, metadata}}}.
    const notes = `${t.key}: ${tasks.length} tasks implemented and verified`;
    const done = processed.length % 2 === 0
      ? await flow.flow({ action: 'processor_complete', itemId, data: { completionNotes: notes } })
      : await flow.flow({
        action: 'processor_complete',
        data: { queueItemId: itemId, result: { success: true, metadata: { ticket: t.key, tasksCompleted: tasks.length } } },
      });
    check(done.id === itemId && done.status === 'completed', `${t.key}: item ${itemId} completed`);
    processed.push(t);
  }
  check(processed.length === total, `all ${total} items were handed out (got ${processed.length})`);
  return processed;
}

function printStats(s) {
  const avg = typeof s.averageProcessingTime === 'number' ? `${(s.averageProcessingTime / 1000).toFixed(2)} s` : '-';
  const rate = typeof s.successRate === 'number' ? `${(s.successRate * 100).toFixed(1)}%` : '-';
  say(`queue ${s.queueId} "${s.queueName}": total ${s.totalItems ?? 0}, queued ${s.queuedItems ?? 0}, ` +
    `in progress ${s.inProgressItems ?? 0}, completed ${s.completedItems ?? 0}, failed ${s.failedItems ?? 0}, ` +
    `dead ${s.deadItems ?? 0}, cancelled ${s.cancelledItems ?? 0}; average processing time ${avg}; success rate ${rate}`);
}

async function finalStats(flow, queueId, total) {
  section('queues_get_stats');
  const s = await flow.flow({ action: 'queues_get_stats', queueId });
  printStats(s);
  check(s.queueId === queueId, 'stats of the queue');
  check(s.totalItems === total && s.completedItems === total, `stats: ${total} items, all completed`);
  check((s.queuedItems ?? 0) === 0 && (s.inProgressItems ?? 0) === 0, 'stats: nothing queued or in progress');
  check((s.failedItems ?? 0) === 0 && (s.deadItems ?? 0) === 0, 'stats: nothing failed');
  check(typeof s.averageProcessingTime === 'number' && s.averageProcessingTime > 0, 'stats: averageProcessingTime > 0');
  check(s.successRate === 1, 'stats: successRate 1');
  return s;
}

async function listTickets(flow, projectId, tickets) {
  section('tickets_list');
  const res = await flow.flow({ action: 'tickets_list', projectId, data: { status: 'all' } });
  check(Array.isArray(res.tickets), 'tickets_list returns tickets[]');
  const byId = new Map(res.tickets.map((t) => [t.id, t]));
  const statuses = {};
  for (const t of tickets) {
    const got = byId.get(t.ticket.id);
    check(got, `tickets_list lists ${t.key}`);
    statuses[t.key] = got.status;
    say(`${t.key.padEnd(8)} ${String(got.id).padEnd(4)} ${got.status.padEnd(11)} ${String(got.priority).padEnd(2)} ` +
      `${oneLine(got.title, 64)}  [${(got.tags ?? []).join(', ')}]`);
  }
  return statuses;
}

async function agentWork(flow, projectId, plan, tickets, timeoutS) {
  const spec = plan.agentQueue;
  const t = tickets.find((x) => x.key === spec.ticket);
  check(t, `the plan has the ticket ${spec.ticket}`);
  section(`flow-workers: ${spec.ticket}'s tasks on the "${spec.name}" queue (agent ${spec.agentId})`);
  const q = await createQueue(flow, projectId, spec);
  say(`queue ${q.id} "${q.name}", defaultAgentId ${q.defaultAgentId}, maxParallelItems ${q.maxParallelItems}`);

  // REVIEW-1 was closed by part 3; reopen it and its tasks for a second review.
  const reopened = await flow.flow({ action: 'tickets_update', ticketId: t.ticket.id, data: { status: 'open' } });
  check(reopened.status === 'open', `${t.key}: reopened`);
  const { tasks = [] } = await flow.flow({ action: 'tasks_list_by_ticket', ticketId: t.ticket.id });
  check(tasks.length === t.tasks.length, `${t.key}: tasks_list_by_ticket lists its ${t.tasks.length} tasks`);
  const items = [];
  for (const task of tasks) {
    const reset = await flow.flow({
      action: 'tasks_update',
      taskId: task.id,
      data: { status: 'pending', agentId: spec.agentId, completionNotes: '' },
    });
    check(reset.status === 'pending' && reset.done === false && reset.agentId === spec.agentId,
      `task ${task.id}: pending again, for agent ${spec.agentId}`);
    const res = await flow.flow({ action: 'enqueue_task', queueId: q.id, taskId: task.id, data: { priority: 5 } });
    check(Array.isArray(res.items) && res.items.length === 1, `task ${task.id}: one item`);
    const item = res.items[0];
    check(isId(item.id) && item.taskId === task.id && item.itemType === 'task' && item.agentId === spec.agentId,
      `task ${task.id}: a task item for agent ${spec.agentId}`);
    items.push(item);
    say(`enqueue_task task ${task.id} -> item ${item.id} (agent ${item.agentId})`);
  }

  say(`waiting up to ${timeoutS} s for the flow-workers to run ${items.length} items...`);
  const deadline = Date.now() + timeoutS * 1000;
  let stats;
  let last = '';
  for (;;) {
    stats = await flow.flow({ action: 'queues_get_stats', queueId: q.id });
    const line = `  queued ${stats.queuedItems ?? 0}, in progress ${stats.inProgressItems ?? 0}, completed ${stats.completedItems ?? 0}` +
      (stats.currentAgents?.length ? ` (agents: ${stats.currentAgents.join(', ')})` : '');
    if (line !== last) say(line);
    last = line;
    if ((stats.failedItems ?? 0) > 0 || (stats.deadItems ?? 0) > 0) {
      fail(`the workers failed ${stats.failedItems ?? 0} and gave up on ${stats.deadItems ?? 0} item(s) of queue ${q.id}`);
    }
    if (stats.completedItems === items.length) break;
    if (Date.now() > deadline) {
      fail(`the workers did not complete queue ${q.id} within ${timeoutS} s ` +
        `(${stats.completedItems ?? 0} of ${items.length} done): are flow-workers with agent ${spec.agentId} running?`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  printStats(stats);

  const done = await flow.flow({ action: 'tasks_list', ticketId: t.ticket.id, data: { status: 'all' } });
  const notes = {};
  say('completion notes written by the agent:');
  for (const task of done.tasks ?? []) {
    check(task.status === 'completed' && task.done === true, `task ${task.id} completed by a worker`);
    check(typeof task.completionNotes === 'string' && task.completionNotes.length > 0, `task ${task.id} has notes`);
    notes[task.id] = task.completionNotes;
    say(`  task ${task.id}: ${oneLine(task.completionNotes, 100)}`);
  }
  const after = await flow.flow({ action: 'tickets_get', ticketId: t.ticket.id });
  say(`${t.key} is ${after.status} again`);
  return {
    queueId: q.id,
    ticketKey: t.key,
    ticketId: t.ticket.id,
    ticketStatus: after.status,
    taskIds: tasks.map((k) => k.id),
    itemIds: items.map((i) => i.id),
    notes,
    stats,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const plan = loadPlan(opts.plan);
  const started = Date.now();

  say(`connecting: ${process.env.FLOWCTL || 'flowctl'} mcp (FLOW_URL=${process.env.FLOW_URL || 'default'})`);
  const { client, negotiated } = await connect();
  const flow = new Flow(client);
  try {
    const info = client.getServerVersion();
    say(`server ${info?.name} ${info?.version}, protocol ${negotiated() ?? '?'}, ` +
      `capabilities: ${Object.keys(client.getServerCapabilities() ?? {}).join(', ')}`);
    check(client.getServerCapabilities()?.tools, 'the server has the tools capability');
    const tools = await checkTools(client);

    const project = await setUpProject(flow, plan, opts);
    section('queues_create');
    const queue = await createQueue(flow, project.id, plan.queue);
    say(`queue ${queue.id} "${queue.name}", maxParallelItems ${queue.maxParallelItems}`);

    const tickets = await createTickets(flow, project.id, plan);
    const order = await enqueueAll(flow, queue.id, tickets);
    const errors = await showErrors(flow, queue.id, order[0]);
    const processed = await processQueue(flow, queue.id, project, tickets, order);
    const again = await flow.flow({ action: 'processor_get_next', queueId: queue.id });
    check(again.found === false, 'get_next on the empty queue: found false, not an error');
    const stats = await finalStats(flow, queue.id, tickets.length);
    const statuses = await listTickets(flow, project.id, tickets);
    for (const [k, s] of Object.entries(statuses)) check(s === 'closed', `${k} is closed after processor_complete (got ${s})`);

    let agent = null;
    if (!opts.skipWorkers) agent = await agentWork(flow, project.id, plan, tickets, opts.workerTimeout);

    section('done');
    printStats(stats);
    if (agent) printStats(agent.stats);
    const tasks = tickets.reduce((n, t) => n + t.tasks.length, 0);
    say(`${tickets.length} tickets, ${tasks} tasks, ${processed.length} items processed; ` +
      `${flow.calls} tool calls in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    if (opts.summary) {
      const summary = {
        server: client.getServerVersion() ?? null,
        protocolVersion: negotiated(),
        tools,
        projectId: project.id,
        queueId: queue.id,
        agentQueueId: agent?.queueId ?? null,
        tickets: Object.fromEntries(tickets.map((t) => [t.key, t.ticket.id])),
        ticketStatuses: statuses,
        taskCount: tasks,
        processingOrder: processed.map((t) => t.key),
        itemsCompleted: processed.length,
        errorsShown: errors,
        stats,
        agentWork: agent,
        toolCalls: flow.calls,
        elapsedMs: Date.now() - started,
      };
      writeFileSync(opts.summary, `${JSON.stringify(summary, null, 2)}\n`);
      say(`summary written to ${opts.summary}`);
    }
  } finally {
    await client.close().catch(() => {});
  }
}

main().catch((e) => {
  if (e instanceof Failure) console.error(`workflow.mjs: ${e.message}`);
  else console.error('workflow.mjs: unexpected error:', e);
  process.exit(1);
});
