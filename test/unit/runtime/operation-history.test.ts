import { resolve } from 'node:path';
import { ManualClock, type LocalRuntime } from '../../../harness/local/runtime';
import { listOperations, parseHistoryQuery } from '../../../src/app/operation-history';
import type { ClusterConfig } from '../../../src/config/schema';
import { InvalidInputError } from '../../../src/domain/errors';
import type { OperationInput, OperationKind, OperationReport } from '../../../src/domain/operation';
import type { OperationSummary } from '../../../src/domain/operation-summary';
import { startRuntime, tempStateDir, WAIT } from './harness';

/**
 * The operation history read from the Durable store through the real durable-functions client:
 * the store answers in instance id order, a continuation token at a time, and gives creation times
 * to the second, so the app orders, filters and pages itself. Stand-in operations (they own their
 * cluster like switchover and failover, and run until told to finish) are started at times a
 * manual clock sets, days and weeks apart, two of them in the same second.
 */
let runtime: LocalRuntime;
let origin: string;
const state = tempStateDir();
const clock = new ManualClock(Date.parse('2026-05-01T08:00:00.000Z'));
const DAY = 24 * 3600_000;

const input = (cluster: string, operationId: string, kind: OperationKind): OperationInput<unknown> => ({
  operationId,
  kind,
  cluster: { name: cluster } as ClusterConfig,
  request: {},
  requestedBy: `test ${operationId}`,
});

/** Starts a stand-in operation and waits until it claimed its cluster (working) or ended (refused). */
async function start(cluster: string, operationId: string, kind: OperationKind = 'switchover'): Promise<void> {
  await runtime.client.startNew(kind, { instanceId: operationId, input: input(cluster, operationId, kind) });
  await runtime.waitForInstance(operationId, {
    ...WAIT,
    until: (s) => !!s && (s.runtimeStatus === 'Completed' || (s.customStatus !== null && (JSON.parse(s.customStatus) as OperationReport).currentStep === 'working')),
  });
}

async function finish(operationId: string): Promise<void> {
  await runtime.client.raiseEvent(operationId, 'finish', null);
  await runtime.waitForInstance(operationId, WAIT);
}

/** Every page of a cluster's history, following nextCursor as a caller would. */
async function allPages(cluster: string, pageSize: number): Promise<OperationSummary[][]> {
  const pages: OperationSummary[][] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ pageSize: String(pageSize), ...(cursor ? { cursor } : {}) });
    const page = await listOperations(runtime.client, cluster, parseHistoryQuery(query), new Date(clock.now()));
    pages.push(page.operations);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

beforeAll(async () => {
  ({ runtime } = await startRuntime({ stateDir: state.dir, clock, appModule: resolve(__dirname, '../../fixtures/runtime/operation-app.ts') }));
  origin = await runtime.http.listen(0);
  await start('orders', 'orders-switchover-a');
  await finish('orders-switchover-a');
  clock.advance(3 * DAY);
  await start('orders', 'orders-failover-b', 'failover');
  await finish('orders-failover-b');
  clock.advance(40 * DAY);
  // Same second: c claims the cluster and runs on; d is refused by the claim.
  await start('orders', 'orders-switchover-c');
  await start('orders', 'orders-switchover-d');
  await start('orders-eu', 'orders-eu-switchover-e');
});

afterAll(async () => {
  await runtime.stop();
  state.remove();
});

test('newest first across weeks, same-second operations by id, each exactly once whatever the page size', async () => {
  const expected = ['orders-switchover-d', 'orders-switchover-c', 'orders-failover-b', 'orders-switchover-a'];
  for (const pageSize of [1, 2, 3, 4, 20]) {
    const pages = await allPages('orders', pageSize);
    expect(pages.flat().map((o) => o.operationId)).toEqual(expected);
    expect(pages.every((page) => page.length === Math.min(pageSize, expected.length) || page === pages.at(-1))).toBe(true);
  }
  const [newest] = await allPages('orders', 20);
  expect(newest).toEqual([
    expect.objectContaining({ operationId: 'orders-switchover-d', outcome: 'refused', trigger: 'test orders-switchover-d', startedAt: '2026-06-13T08:00:00.000Z', reason: expect.stringContaining('orders-switchover-c owns cluster orders') }),
    expect.objectContaining({ operationId: 'orders-switchover-c', outcome: 'running', startedAt: '2026-06-13T08:00:00.000Z' }),
    expect.objectContaining({ operationId: 'orders-failover-b', kind: 'failover', outcome: 'completed', startedAt: '2026-05-04T08:00:00.000Z' }),
    expect.objectContaining({ operationId: 'orders-switchover-a', outcome: 'completed', startedAt: '2026-05-01T08:00:00.000Z', writeSteps: [], problems: [] }),
  ]);
});

test("a cluster whose name is a prefix of another's sees only its own operations", async () => {
  expect((await allPages('orders-eu', 1)).flat().map((o) => o.operationId)).toEqual(['orders-eu-switchover-e']);
  expect((await allPages('order', 5)).flat()).toEqual([]);
});

test('a bad page size or cursor is refused naming the parameter and the fix', () => {
  for (const pageSize of ['0', '101', 'ten', '2.5', '-1', '']) {
    expect(() => parseHistoryQuery(new URLSearchParams({ pageSize }))).toThrow(new InvalidInputError(`pageSize must be a whole number from 1 to 100 (got "${pageSize}"): ask for at most 100 operations per page, e.g. pageSize=20`));
  }
  for (const cursor of ['not-a-cursor', Buffer.from('{"startedAt":"yesterday","operationId":"x"}').toString('base64url'), '']) {
    expect(() => parseHistoryQuery(new URLSearchParams({ cursor }))).toThrow(/^cursor is not one this API gave: pass the nextCursor of the previous page unchanged/);
  }
  expect(parseHistoryQuery(new URLSearchParams())).toEqual({ pageSize: 20, after: null });
});

test('the Durable HTTP API pages instance queries by `top` and x-ms-continuation-token, in instance id order', async () => {
  const url = `${origin}/runtime/webhooks/durabletask/instances?top=2&showInput=false&code=${encodeURIComponent(runtime.keys.systemKey)}`;
  const seen: string[] = [];
  let token: string | null = null;
  do {
    const response: Response = await fetch(url, { headers: token ? { 'x-ms-continuation-token': token } : {} });
    expect(response.status).toBe(200);
    const page = (await response.json()) as { instanceId: string }[];
    expect(page.length).toBeLessThanOrEqual(2);
    seen.push(...page.map((s) => s.instanceId));
    token = response.headers.get('x-ms-continuation-token');
  } while (token);
  const all = runtime.listInstances().map((s) => s.instanceId);
  expect(seen).toEqual([...all].sort());
  expect(seen.length).toBeGreaterThan(4);
});

test("durable-functions' getStatusBy follows the continuation tokens past the extension's default page of 100", async () => {
  const ids = Array.from({ length: 101 }, (_, i) => `filler-${String(i).padStart(3, '0')}`);
  for (const id of ids) await start('filler', id, 'failover');
  const listed = await runtime.client.getStatusBy({});
  expect(listed.map((s) => s.instanceId).filter((id) => id.startsWith('filler-'))).toEqual(ids);
  expect(listed).toHaveLength(runtime.listInstances().length);
});
