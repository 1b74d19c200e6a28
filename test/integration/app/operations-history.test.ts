import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LocalStack } from '../../../harness/local/stack';
import { waitFor } from '../../../harness/util/wait';
import type { OperationView } from '../../../src/app/operations';
import type { ClusterStatus } from '../../../src/domain/health-summary';
import { OperationPage, writeAffectingSteps } from '../../../src/domain/operation-summary';
import { switchoverAndWait } from '../../support/operations';
import { api, startTestStack, TEST_FUNCTION_KEY } from '../../support/stack';
import { check } from '../failover/support';

const CLI = resolve(__dirname, '../../../bin/pg-failover.js');

/**
 * What an operator reads after the fact: two switchovers on the lab through the app, then the
 * operations list (newest first, paged, every entry what GET …/operations/{id} says) and the CLI's
 * status, history and show, run as a user runs them: a process with the key in a file.
 */
describe('the operations list and the operator CLI against the local stack', () => {
  let stack: LocalStack;
  const ids: string[] = [];
  const keyFile = join(mkdtempSync(join(tmpdir(), 'pgfo-key-')), 'key');
  writeFileSync(keyFile, `${TEST_FUNCTION_KEY}\n`, { mode: 0o600 });

  const cluster = () => stack.cluster.name;
  const operations = async (query: string) => api(stack, 'GET', `clusters/${cluster()}/operations${query}`);
  const page = async (query: string) => {
    const { status, body } = await operations(query);
    if (status !== 200) throw new Error(`GET operations${query}: ${status} ${JSON.stringify(body)}`);
    return body as unknown as OperationPage;
  };
  const cli = async (...args: string[]) => (await promisify(execFile)(process.execPath, [CLI, ...args, '--url', stack.origin!, '--key-file', keyFile])).stdout;

  beforeAll(async () => {
    stack = await startTestStack('60.1');
    for (const target of ['pg2', 'pg1']) {
      const report = await switchoverAndWait(stack, { target });
      expect(report).toMatchObject({ outcome: 'completed', newPrimary: target });
      ids.unshift(report.operationId);
    }
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('lists the operations newest first; with a page size of 1 every one comes exactly once, then no cursor', async () => {
    const all = await page('?pageSize=20');
    expect(all.operations.map((o) => o.operationId)).toEqual(ids);
    expect(all.nextCursor).toBeNull();
    const starts = all.operations.map((o) => o.startedAt);
    expect([...starts].sort().reverse()).toEqual(starts);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const next: OperationPage = await page(`?pageSize=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      pages.push(next.operations.map((o) => o.operationId));
      cursor = next.nextCursor;
    } while (cursor);
    expect(pages).toEqual(ids.map((id) => [id]));
  });

  it('every entry resolves with GET …/operations/{id} and agrees with it', async () => {
    for (const entry of (await page('')).operations) {
      const { status, body } = await api(stack, 'GET', `clusters/${cluster()}/operations/${entry.operationId}`);
      expect(status).toBe(200);
      const report = body as unknown as OperationView;
      expect(entry).toEqual({
        operationId: report.operationId,
        kind: 'switchover',
        trigger: 'http',
        startedAt: report.startedAt,
        outcome: report.outcome,
        reason: report.reason ?? null,
        oldPrimary: report.oldPrimary,
        newPrimary: report.newPrimary,
        writeSteps: writeAffectingSteps(report).map((s) => ({ name: s.name, durationMs: s.durationMs })),
        problems: report.problems,
      });
      expect(entry.writeSteps.map((s) => s.name)).toEqual(['drain primary', 'stop primary', 'wait for candidate', 'promote candidate', 'resume application logins', 'repoint load balancer']);
      expect(Date.parse(report.steps[0]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(entry.startedAt));
    }
  });

  it.each([
    ['?pageSize=0', 'pageSize must be a whole number from 1 to 100 (got "0")'],
    ['?pageSize=500', 'pageSize must be a whole number from 1 to 100 (got "500")'],
    ['?pageSize=ten', 'pageSize must be a whole number from 1 to 100 (got "ten")'],
    ['?cursor=yesterday', 'cursor is not one this API gave: pass the nextCursor of the previous page unchanged'],
  ])('answers 400 naming the parameter and the fix for %s', async (query, detail) => {
    const { status, body } = await operations(query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ status: 400, title: 'Invalid request' });
    expect(String(body.detail)).toContain(detail);
  });

  it('pg-failover status: the table and the health verdict, --json, and --watch redrawing in place', async () => {
    await check(stack);
    const table = await cli('status', cluster());
    expect(table).toMatch(/│ node\s+│ host\s+│ role\s+│ timeline │ LSN\s+│ lag \(bytes\) │ streaming │ pool\s+│ health\s+│/);
    for (const [node, role, pool] of [['pg1', 'primary', 'write'], ['pg2', 'standby', 'read'], ['pg3', 'standby', 'read']]) {
      expect(table).toMatch(new RegExp(`│ ${node}\\s+│ ${stack.cluster.nodes.find((n) => n.name === node)!.host}:5432\\s+│ ${role}\\s+│ 3\\s+│ [0-9A-F]+/[0-9A-F]+\\s+│ \\d+\\s+│ ${role === 'standby' ? 'yes' : '-'}\\s+│ ${pool}\\s+│ ok\\s+│`));
    }
    expect(table).toContain('health: HEALTHY');

    const status = JSON.parse(await cli('status', cluster(), '--json')) as ClusterStatus;
    expect(status.nodes.map((n) => n.name)).toEqual(['pg1', 'pg2', 'pg3']);
    expect(status.health).toMatchObject({ verdict: 'healthy', maintenance: false, heldNodes: [] });

    const watching = spawn(process.execPath, [CLI, 'status', cluster(), '--watch', '1', '--url', stack.origin!, '--key-file', keyFile]);
    let output = '';
    watching.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitFor('two frames of pg-failover status --watch', () => output.split('\x1b[H\x1b[2J').filter((frame) => frame.includes('health: HEALTHY')).length >= 2, { timeoutMs: 60_000 });
    } finally {
      watching.kill('SIGINT');
    }
  });

  it('pg-failover history: newest first, a page at a time with the cursor it prints, and --json', async () => {
    const first = await cli('history', cluster(), '--page-size', '1');
    expect(first).toContain(ids[0]);
    expect(first).not.toContain(ids[1]);
    const next = /older operations: pg-failover history \S+ --page-size 1 --cursor (\S+)/.exec(first)?.[1];
    expect(next).toBeDefined();
    const second = await cli('history', cluster(), '--page-size', '1', '--cursor', next!);
    expect(second).toContain(ids[1]);
    expect(second).not.toContain('older operations');

    const table = await cli('history', cluster());
    expect(table.indexOf(ids[0]!)).toBeLessThan(table.indexOf(ids[1]!));
    expect(table).toMatch(/│ switchover │ http\s+│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ │ completed │ pg1 → pg2 │ drain primary \d+ ms/);
    expect(JSON.parse(await cli('history', cluster(), '--json'))).toEqual(await page(''));
  });

  it('pg-failover show: the step table and outcome switchover prints, and --json', async () => {
    const text = await cli('show', cluster(), ids[1]!);
    expect(text).toContain('started ');
    expect(text).toContain(' by http');
    expect(text).toMatch(/│ drain primary\s+│ \d\d:\d\d:\d\d\.\d{3} │ \d+ ms\s+│ ok/);
    expect(text).toContain(`switchover ${ids[1]}: COMPLETED`);
    expect(text).toContain('old primary: pg1   new primary: pg2');
    const json = JSON.parse(await cli('show', cluster(), ids[1]!, '--json')) as OperationView;
    expect(json).toEqual((await api(stack, 'GET', `clusters/${cluster()}/operations/${ids[1]}`)).body);
  });
});
