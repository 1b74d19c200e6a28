import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SCHEDULED_EVENT_TYPES, type ScheduledEvent, type ScheduledEventType } from '../../../src/domain/scheduled-events';
import { createEntraIssuer, type EntraIssuer } from './entra';

/**
 * The slice of the Azure Instance Metadata Service (IMDS, http://169.254.169.254) a database VM's
 * agent uses: Scheduled Events, the VM's own name and managed-identity tokens. Plain HTTP, as IMDS
 * is. One listener serves every emulated VM: a VM's agent uses `baseUrl(vm)` (a path prefix
 * /vm/<name> stands for "asked from inside that VM"); the events document is shared, as Azure
 * delivers one availability set's events to all its VMs and each agent must pick its own.
 *
 * Behaviour modelled on the public documentation (api-version 2020-07-01):
 * - every request needs the header `Metadata: true` and an `api-version`; requests carrying
 *   `X-Forwarded-For` are refused (IMDS rejects proxied requests) — all 400 `{"error": ...}`;
 * - the document is `{"DocumentIncarnation", "Events": [...]}`; the incarnation increases on every
 *   change (an event added, started, gone);
 * - an event is `Scheduled` until it is approved (POST `{"StartRequests":[{"EventId"}]}`) or its
 *   NotBefore passes; then it is `Started` with an empty NotBefore; when the maintenance is over
 *   (`complete`, or `startedForMs` after it started) it leaves the document; Azure may also
 *   cancel a scheduled event (`cancel`): it just disappears;
 * - approving an unknown or already started event changes nothing (the answer is still 200).
 */

export const IMDS_SCHEDULED_EVENTS_VERSIONS = ['2017-11-01', '2019-01-01', '2019-04-01', '2019-08-01', '2020-07-01'] as const;
const IMDS_INSTANCE_VERSIONS = ['2019-06-01', '2020-09-01', '2021-02-01', '2021-12-13', '2023-07-01'] as const;
const IMDS_IDENTITY_VERSIONS = ['2018-02-01', '2019-08-01'] as const;

/** Minimum notice per event type (documentation): Reboot/Freeze 15 min, Redeploy 10 min, Preempt 30 s, Terminate 5 min (configurable 5-15). */
export const MINIMUM_NOTICE_MS: Record<ScheduledEventType, number> = {
  Reboot: 15 * 60_000,
  Freeze: 15 * 60_000,
  Redeploy: 10 * 60_000,
  Preempt: 30_000,
  Terminate: 5 * 60_000,
};

export interface ScheduleEventOptions {
  eventType: ScheduledEventType;
  /** VM names the event affects (default: the first VM the emulator was given). */
  resources?: string[];
  /** When the platform starts it unaided: a Date, or milliseconds from now (default: the type's minimum notice). */
  notBefore?: Date | number;
  eventSource?: 'Platform' | 'User';
  durationInSeconds?: number;
  description?: string;
  eventId?: string;
}

export type EventTransition = {
  eventId: string;
  to: 'Scheduled' | 'Started' | 'Completed' | 'Cancelled';
  by: 'schedule' | 'approval' | 'not-before' | 'control';
  incarnation: number;
  /** Which VM's agent approved it (approval only). */
  vm?: string;
};

export interface ScheduledEventsRecord {
  /** Every request: method, path (without the /vm prefix), status, and the VM it was asked from. */
  requests: { method: string; path: string; status: number; vm?: string }[];
  /** Every StartRequests POST as received (well-formed ones), in order. */
  startRequests: { eventIds: string[]; vm?: string }[];
  transitions: EventTransition[];
  /** Managed identity tokens handed out. */
  tokens: { vm?: string; resource: string; clientId?: string; accessToken: string }[];
}

export interface ScheduledEventsDocument {
  DocumentIncarnation: number;
  Events: ScheduledEvent[];
}

export interface ScheduledEventsEmulatorOptions {
  /** Loopback address to listen on (default 127.0.0.1); plain HTTP like IMDS. */
  host?: string;
  port?: number;
  /** The VMs it serves (compute name, identity tokens); also the default `resources` of a new event. */
  vms?: string[];
  /** A started event leaves the document this long after it started (default: only when `complete` is called). */
  startedForMs?: number;
  /** Called when an event starts (approved or NotBefore passed), e.g. to reboot the lab node of the VM. */
  onEventStarted?: (event: ScheduledEvent, by: 'approval' | 'not-before') => void;
  /**
   * Who signs the VMs' managed identity tokens and each VM's resource id (its identity's object id
   * follows from it): give the ARM emulator's, so the app can check the tokens. Default: an issuer
   * of its own and ids in a made-up subscription.
   */
  identity?: { entra: EntraIssuer; vmResourceId(vm: string): string };
}

export interface ScheduledEventsEmulator {
  /** The IMDS base URL as seen from inside `vm` (e.g. http://127.0.0.1:40111/vm/pg1), or the bare listener. */
  baseUrl(vm?: string): string;
  /** Azure schedules an event; returns its EventId. */
  schedule(options: ScheduleEventOptions): string;
  /** The maintenance is over: the event leaves the document. */
  complete(eventId: string): void;
  /** Azure cancelled the event before it started: it leaves the document. */
  cancel(eventId: string): void;
  /** Azure moves an event's NotBefore (the incarnation changes). */
  reschedule(eventId: string, notBefore: Date | number): void;
  document(): ScheduledEventsDocument;
  event(eventId: string): ScheduledEvent | undefined;
  readonly record: ScheduledEventsRecord;
  /** Resolves once `condition` holds (checked now and after every request or change); rejects after timeoutMs. */
  waitFor(condition: () => boolean, options: { timeoutMs: number; what?: string }): Promise<void>;
  stop(): Promise<void>;
}

class ImdsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const EVENT_ID = /^[0-9A-Za-z-]{1,64}$/;

export async function startScheduledEventsEmulator(options: ScheduledEventsEmulatorOptions = {}): Promise<ScheduledEventsEmulator> {
  const host = options.host ?? '127.0.0.1';
  const vms = options.vms ?? [];
  const identity = options.identity ?? {
    entra: createEntraIssuer('72f988bf-86f1-41af-91ab-2d7cd011db47'),
    vmResourceId: (vm: string) => `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/imds/providers/Microsoft.Compute/virtualMachines/${vm}`,
  };
  const events = new Map<string, ScheduledEvent>();
  const timers = new Map<string, NodeJS.Timeout[]>();
  const listeners = new Set<() => void>();
  const record: ScheduledEventsRecord = { requests: [], startRequests: [], transitions: [], tokens: [] };
  let incarnation = 1;

  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  const addTimer = (eventId: string, ms: number, run: () => void) => {
    const timer = setTimeout(run, Math.max(0, ms));
    timer.unref();
    timers.set(eventId, [...(timers.get(eventId) ?? []), timer]);
  };
  const clearTimers = (eventId: string) => {
    for (const timer of timers.get(eventId) ?? []) clearTimeout(timer);
    timers.delete(eventId);
  };
  const transition = (eventId: string, to: EventTransition['to'], by: EventTransition['by'], vm?: string) => {
    incarnation += 1;
    record.transitions.push({ eventId, to, by, incarnation, ...(vm ? { vm } : {}) });
    changed();
  };
  const remove = (eventId: string, to: 'Completed' | 'Cancelled') => {
    if (!events.delete(eventId)) return;
    clearTimers(eventId);
    transition(eventId, to, 'control');
  };
  const start = (eventId: string, by: 'approval' | 'not-before', vm?: string) => {
    const event = events.get(eventId);
    if (!event || event.EventStatus !== 'Scheduled') return;
    clearTimers(eventId);
    event.EventStatus = 'Started';
    event.NotBefore = '';
    transition(eventId, 'Started', by, vm);
    if (options.startedForMs !== undefined) addTimer(eventId, options.startedForMs, () => remove(eventId, 'Completed'));
    options.onEventStarted?.({ ...event, Resources: [...event.Resources] }, by);
  };
  const armNotBefore = (eventId: string, at: number) => {
    clearTimers(eventId);
    addTimer(eventId, at - Date.now(), () => start(eventId, 'not-before'));
  };
  const timeOf = (notBefore: Date | number) => (notBefore instanceof Date ? notBefore.getTime() : Date.now() + notBefore);
  // RFC 1123 to the second, as IMDS writes it; the platform starts the event at that second.
  const rfc1123 = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000).toUTCString();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (error as Error).message }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://imds');
    const prefix = /^\/vm\/([^/]+)(\/.*)$/.exec(url.pathname);
    const vm = prefix ? decodeURIComponent(prefix[1]) : undefined;
    const path = prefix ? prefix[2] : url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);
    let status = 200;
    try {
      const answer = route(method, path, url.searchParams, req, body, vm);
      status = answer.status;
      const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(status, { 'content-type': typeof answer.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8' });
      res.end(text);
    } catch (error) {
      if (!(error instanceof ImdsError)) throw error;
      status = error.status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: error.message, ...error.extra }));
    } finally {
      record.requests.push({ method, path, status, ...(vm ? { vm } : {}) });
      changed();
    }
  }

  function route(method: string, path: string, query: URLSearchParams, req: IncomingMessage, body: string, vm: string | undefined): { status: number; body?: unknown } {
    if (req.headers['x-forwarded-for'] !== undefined) throw new ImdsError(400, 'Bad request. X-Forwarded-For header is not allowed: requests through a proxy are refused.');
    if (String(req.headers['metadata'] ?? '').toLowerCase() !== 'true') throw new ImdsError(400, 'Bad request. Required metadata header not specified');
    if (vm !== undefined && !vms.includes(vm)) throw new ImdsError(404, `Not found (no emulated VM named ${vm})`);
    const apiVersion = query.get('api-version');
    const versioned = (supported: readonly string[]) => {
      if (!apiVersion) throw new ImdsError(400, 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds', { 'newest-versions': [...supported].reverse() });
      if (!supported.includes(apiVersion)) throw new ImdsError(400, 'Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds', { 'newest-versions': [...supported].reverse() });
    };

    if (path === '/metadata/scheduledevents') {
      versioned(IMDS_SCHEDULED_EVENTS_VERSIONS);
      if (method === 'GET') return { status: 200, body: documentNow() };
      if (method === 'POST') {
        const eventIds = parseStartRequests(body);
        record.startRequests.push({ eventIds, ...(vm ? { vm } : {}) });
        for (const eventId of eventIds) start(eventId, 'approval', vm);
        return { status: 200 };
      }
      throw new ImdsError(405, `Method ${method} is not allowed on ${path}`);
    }
    if (path === '/metadata/instance/compute/name' && method === 'GET') {
      versioned(IMDS_INSTANCE_VERSIONS);
      if (!vm) throw new ImdsError(404, 'Not found (ask through baseUrl(vm) to be a VM)');
      if (query.get('format') !== 'text') throw new ImdsError(400, 'Bad request. Leaf values must be requested with format=text');
      return { status: 200, body: vm };
    }
    if (path === '/metadata/identity/oauth2/token' && method === 'GET') {
      versioned(IMDS_IDENTITY_VERSIONS);
      const resource = query.get('resource');
      if (!resource) throw new ImdsError(400, 'Required query variable \'resource\' is missing', { error_description: "Required query variable 'resource' is missing" });
      if (!vm) throw new ImdsError(400, 'Identity not found (ask through baseUrl(vm) to be a VM)', { error_description: 'Identity not found' });
      // The VMs have a system-assigned identity only: a user-assigned one is not found, as IMDS says.
      const clientId = query.get('client_id') ?? undefined;
      const now = Math.floor(Date.now() / 1000);
      const token = identity.entra.managedIdentityToken(identity.vmResourceId(vm), resource, now);
      if (clientId !== undefined && clientId !== token.clientId) throw new ImdsError(400, 'Identity not found', { error: 'invalid_request', error_description: 'Identity not found' });
      const accessToken = token.accessToken;
      record.tokens.push({ vm, resource, ...(clientId ? { clientId } : {}), accessToken });
      return {
        status: 200,
        body: {
          access_token: accessToken,
          client_id: token.clientId,
          expires_in: '86399',
          expires_on: String(token.expiresOn),
          ext_expires_in: '86399',
          not_before: String(now),
          resource,
          token_type: 'Bearer',
        },
      };
    }
    throw new ImdsError(404, `Not found: ${method} ${path}`);
  }

  function documentNow(): ScheduledEventsDocument {
    return { DocumentIncarnation: incarnation, Events: [...events.values()].map((e) => ({ ...e, Resources: [...e.Resources] })) };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    baseUrl: (vm) => (vm ? `${origin}/vm/${encodeURIComponent(vm)}` : origin),
    schedule(schedule) {
      if (!SCHEDULED_EVENT_TYPES.includes(schedule.eventType)) throw new Error(`unknown event type ${schedule.eventType}`);
      const eventId = schedule.eventId ?? randomUUID().toUpperCase();
      if (!EVENT_ID.test(eventId)) throw new Error(`bad EventId ${eventId}`);
      if (events.has(eventId)) throw new Error(`event ${eventId} is already scheduled`);
      const resources = schedule.resources ?? vms.slice(0, 1);
      if (resources.length === 0) throw new Error('an event needs at least one VM in resources');
      const at = timeOf(schedule.notBefore ?? MINIMUM_NOTICE_MS[schedule.eventType]);
      events.set(eventId, {
        EventId: eventId,
        EventType: schedule.eventType,
        ResourceType: 'VirtualMachine',
        Resources: [...resources],
        EventStatus: 'Scheduled',
        NotBefore: rfc1123(at),
        Description: schedule.description ?? `Virtual machine is going to be ${schedule.eventType === 'Freeze' ? 'paused' : 'restarted'} as requested by ${schedule.eventSource === 'User' ? 'the user' : 'the platform'}.`,
        EventSource: schedule.eventSource ?? 'Platform',
        DurationInSeconds: schedule.durationInSeconds ?? (schedule.eventType === 'Freeze' ? 9 : -1),
      });
      armNotBefore(eventId, Math.ceil(at / 1000) * 1000);
      transition(eventId, 'Scheduled', 'schedule');
      return eventId;
    },
    complete: (eventId) => remove(eventId, 'Completed'),
    cancel: (eventId) => remove(eventId, 'Cancelled'),
    reschedule(eventId, notBefore) {
      const event = events.get(eventId);
      if (!event || event.EventStatus !== 'Scheduled') throw new Error(`event ${eventId} is not scheduled`);
      const at = timeOf(notBefore);
      event.NotBefore = rfc1123(at);
      armNotBefore(eventId, Math.ceil(at / 1000) * 1000);
      transition(eventId, 'Scheduled', 'control');
    },
    document: documentNow,
    event(eventId) {
      const event = events.get(eventId);
      return event ? { ...event, Resources: [...event.Resources] } : undefined;
    },
    record,
    waitFor(condition, { timeoutMs, what }) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          let ok = false;
          try {
            ok = condition();
          } catch (error) {
            finish();
            reject(error);
            return;
          }
          if (ok) {
            finish();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what ?? 'a condition'} (metadata service record: ${JSON.stringify(record.transitions)})`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      for (const id of [...timers.keys()]) clearTimers(id);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseStartRequests(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ImdsError(400, 'Bad request. The request body is not valid JSON');
  }
  const requests = (parsed as { StartRequests?: unknown } | null)?.StartRequests;
  if (!Array.isArray(requests) || requests.length === 0) throw new ImdsError(400, 'Bad request. Expected {"StartRequests": [{"EventId": "..."}]}');
  return requests.map((entry) => {
    const eventId = (entry as { EventId?: unknown } | null)?.EventId;
    if (typeof eventId !== 'string' || !EVENT_ID.test(eventId)) throw new ImdsError(400, 'Bad request. Every StartRequests entry needs an EventId');
    return eventId;
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

