import { LocalStack } from '../../../harness/local/stack';
import { api, startTestStack } from '../../support/stack';
import { waitForOperation } from '../../support/operations';

describe('HTTP API against the lab through local Azure and the local runtime', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startTestStack('20.2');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('refuses a request without the function key', async () => {
    expect((await api(stack, 'GET', 'clusters/lab', undefined, null)).status).toBe(401);
  });

  it('reports the topology: roles, positions and pools', async () => {
    const { status, body } = await api(stack, 'GET', 'clusters/lab');
    expect(status).toBe(200);
    const nodes = body.nodes as { name: string; role: string; walReceiver: { status: string } | null }[];
    expect(nodes.map((n) => [n.name, n.role, n.walReceiver?.status ?? null])).toEqual([
      ['pg1', 'primary', null],
      ['pg2', 'standby', 'streaming'],
      ['pg3', 'standby', 'streaming'],
    ]);
    expect(body.pools).toEqual({ write: ['pg1'], read: ['pg2', 'pg3'] });
  });

  it('answers a dry run with the plan and changes nothing', async () => {
    const { status, body } = await api(stack, 'POST', 'clusters/lab/switchover', { dryRun: true, target: 'pg3' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ dryRun: true, plan: { oldPrimary: 'pg1', candidate: 'pg3', followers: ['pg2'] } });
    expect((await stack.lab.status()).nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
  });

  it.each([
    ['not JSON', '{"target":', /not valid JSON/],
    ['an unknown field', { taget: 'pg2' }, /unknown field\(s\) taget; allowed fields: target, dryRun, maxLagBytes, timeoutSeconds/],
    ['a wrong type', { dryRun: 'yes' }, /dryRun: dryRun must be true or false/],
    ['a negative lag', { maxLagBytes: -1 }, /maxLagBytes: maxLagBytes must be 0 or more/],
    ['a timeout out of range', { timeoutSeconds: 0 }, /timeoutSeconds must be 1-3600/],
  ])('answers 400 with a problem body for %s', async (_case, body, detail) => {
    const response = await api(stack, 'POST', 'clusters/lab/switchover', body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ status: 400, title: 'Invalid request body' });
    expect(String(response.body.detail)).toMatch(detail);
  });

  it('answers 413 for a body over 64 KiB, before reading it as JSON', async () => {
    const response = await api(stack, 'POST', 'clusters/lab/switchover', `{"target":"${'x'.repeat(70_000)}"}`);
    expect(response).toMatchObject({ status: 413, body: { title: 'Request body too large', detail: expect.stringContaining('more than the 65536 this API accepts') } });
  });

  it('answers 404 for an unknown cluster, node or operation', async () => {
    const cluster = await api(stack, 'POST', 'clusters/nope/switchover', {});
    expect(cluster.status).toBe(404);
    expect(cluster.body.detail).toBe(`no cluster named "nope" in this app's configuration: check the name in the URL`);
    const node = await api(stack, 'POST', 'clusters/lab/switchover', { target: 'pg9' });
    expect(node.status).toBe(404);
    expect(node.body.detail).toBe(`cluster lab has no node "pg9" in this app's configuration: check the node name`);
    expect((await api(stack, 'GET', 'clusters/lab/operations/lab-switchover-nope')).status).toBe(404);
  });

  it('answers 409 with the reason when the plan is refused', async () => {
    const { status, body } = await api(stack, 'POST', 'clusters/lab/switchover', { dryRun: true, target: 'pg1' });
    expect(status).toBe(409);
    expect(body).toMatchObject({ code: 'target-not-standby' });
  });

  it('starts one operation for two concurrent requests; the other gets 409 naming it (S5)', async () => {
    const answers = await Promise.all([api(stack, 'POST', 'clusters/lab/switchover', {}), api(stack, 'POST', 'clusters/lab/switchover', {})]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const started = answers.find((a) => a.status === 202)!.body;
    const refused = answers.find((a) => a.status === 409)!.body;
    expect(refused).toMatchObject({ status: 409, title: 'An operation is already running on this cluster', operationId: started.operationId });
    expect(String(refused.statusUrl)).toMatch(new RegExp(`/api/clusters/lab/operations/${String(started.operationId)}$`));
    const report = await waitForOperation(stack, String(started.operationId));
    expect(report.outcome).toBe('completed');
    // Once it finished, the next request is admitted again.
    const dryRun = await api(stack, 'POST', 'clusters/lab/switchover', { dryRun: true });
    expect(dryRun.status).toBe(200);
  });
});
