import { createHash, createHmac, randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { Lab } from '../../../harness/lab/lab';
import { labSelfSignedStepsCertificate, labStepKey, NODE_STEPS_PORT, NodeAgents, stopNodeAgents } from '../../../harness/lab/node-agents';
import { labClusterConfig } from '../../../harness/local/lab-cluster';
import { type AgentTrust, NodeAgentUnavailable, NodeStepUnknown, pollNodeStep, runNodeStep, startNodeStep } from '../../../src/adapters/agent/node-steps';
import { waitFor } from '../../../harness/util/wait';
import { ClusterConfig } from '../../../src/config/schema';
import { inspectVm, stopCleanly } from '../../../src/vm-scripts/catalogue';
import { testLabOptions } from '../../support/lab';

const BLOCK = '72.1';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The node steps of the agent (agent/node_agent/steps.py) on a real lab: the app's client runs a
 * catalogue script there, and every request that is not signed with the node's own key, is dated
 * outside the window, is malformed, names another script version or node, or reuses an id is
 * refused with a clear error while PostgreSQL is left as it was. A replay inside the window gets
 * the first answer and runs nothing.
 */
describe('node agent: node steps over HTTPS', () => {
  const options = testLabOptions(BLOCK);
  let lab: Lab;
  let agents: NodeAgents;
  let cluster: ClusterConfig;

  beforeAll(async () => {
    lab = await Lab.up(options);
    agents = await NodeAgents.start(lab, { checkSeconds: 0.2 });
    [cluster] = labClusterConfig(lab, {}, 'probe').clusters;
  });

  afterAll(async () => {
    if (lab) await stopNodeAgents(lab.layout);
    await Lab.down(options);
  });

  const node = (name: string) => cluster.nodes.find((n) => n.name === name)!;
  const keyOf = (name: string) => Buffer.from(labStepKey(lab.layout.nodes.find((n) => n.name === name)!), 'base64');
  const target = (name: string, key = keyOf(name), trust: AgentTrust = { ca: lab.caCertificate() }) => ({ node: name, host: node(name).host, port: NODE_STEPS_PORT, key, trust });
  const steps = (name: string) => agents.events(name).filter((e) => e.event === 'step');

  /** A raw POST /steps: every part of it can be wrong on purpose. */
  function post(name: string, body: string, headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: node(name).host, port: NODE_STEPS_PORT, path: '/steps', method: 'POST', ca: lab.caCertificate(), agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  function signed(name: string, body: string, { key = keyOf(name), date = Math.floor(Date.now() / 1000) } = {}): Record<string, string> {
    const message = `POST\n/steps\n${date}\n${createHash('sha256').update(body).digest('hex')}`;
    return { 'X-Pgfo-Date': String(date), Authorization: `PGFO-HMAC-SHA256 ${createHmac('sha256', key).update(message).digest('hex')}` };
  }

  function stepBody(call: { script: { name: string; text: string }; parameters: Record<string, string> }, overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      id: randomUUID(),
      script: call.script.name,
      sha256: createHash('sha256').update(call.script.text).digest('hex'),
      text: call.script.text,
      parameters: call.parameters,
      secrets: {},
      timeoutSeconds: 60,
      ...overrides,
    });
  }

  const stopPg1 = () => stopCleanly(cluster, node('pg1'), null);
  const stillPrimary = async () => expect(await lab.status()).toMatchObject({ nodes: expect.arrayContaining([expect.objectContaining({ name: 'pg1', role: 'primary' })]) });

  it("runs a catalogue script with the app's client and answers with its streams", async () => {
    const call = inspectVm(cluster, node('pg2'));
    const streams = await runNodeStep(target('pg2'), { script: call.script, parameters: call.parameters, secrets: {}, timeoutSeconds: 60 });
    expect(streams.exitCode).toBe(0);
    expect(streams.stdout).toMatch(/PGFO_RESULT \{"ok":true,"script":"inspect","node":"pg2"/);
  });

  it('refuses what is not signed with the node\'s own key, and stops nothing', async () => {
    const body = stepBody(stopPg1());
    const unsigned = await post('pg1', body, {});
    expect(unsigned).toMatchObject({ status: 401, body: { error: 'unauthenticated', detail: expect.stringContaining('Authorization: PGFO-HMAC-SHA256') } });
    const anotherNodesKey = await post('pg1', body, signed('pg1', body, { key: keyOf('pg2') }));
    expect(anotherNodesKey).toMatchObject({ status: 401, body: { error: 'unauthenticated', detail: expect.stringContaining("does not match this node's key") } });
    const altered = await post('pg1', body.replace('"timeoutSeconds":60', '"timeoutSeconds":61'), signed('pg1', body));
    expect(altered.status).toBe(401);
    await stillPrimary();
    expect(steps('pg1')).toEqual([]);
  });

  it('refuses a request dated outside the window (a replay captured earlier), and stops nothing', async () => {
    const body = stepBody(stopPg1());
    const old = await post('pg1', body, signed('pg1', body, { date: Math.floor(Date.now() / 1000) - 600 }));
    expect(old).toMatchObject({ status: 401, body: { error: 'expired', detail: expect.stringContaining('outside ±60 s') } });
    await stillPrimary();
    expect(steps('pg1')).toEqual([]);
  });

  it('refuses malformed requests naming the field, a text other than its digest\'s, another script version, another node, and stops nothing', async () => {
    const call = stopPg1();
    const cases: [string, number, string, RegExp][] = [
      ['not json', 400, 'malformed', /not JSON/],
      [stepBody(call, { script: 'rm-rf' }), 400, 'malformed', /script must be one of/],
      [stepBody(call, { timeoutSeconds: 0 }), 400, 'malformed', /timeoutSeconds/],
      [stepBody(call, { parameters: { 'PGFO NODE': 'x' } }), 400, 'malformed', /parameters must be/],
      [stepBody(call, { extra: 1 }), 400, 'malformed', /unknown fields extra/],
      [stepBody(call, { id: 'x' }), 400, 'malformed', /^id must be/],
      // The agent runs the text the request carries only when it is the one its digest names, and a digest it holds.
      [stepBody(call, { text: undefined }), 400, 'malformed', /^text must be the script to run/],
      [stepBody(call, { text: `${call.script.text}\necho changed` }), 400, 'malformed', /^text must be the script to run .* whose SHA-256 is sha256/],
      [stepBody({ ...call, script: { ...call.script, text: `${call.script.text}\necho changed` } }), 409, 'script-version', /another stop-clean than the app/],
      [stepBody({ ...call, parameters: { ...call.parameters, PGFO_NODE_NAME: 'pg2' } }), 409, 'wrong-node', /agent of pg1, not of pg2/],
    ];
    for (const [body, status, error, detail] of cases) {
      const answer = await post('pg1', body, signed('pg1', body));
      expect({ sent: body.slice(0, 40), ...answer }).toMatchObject({ status, body: { error, detail: expect.stringMatching(detail) } });
    }
    await stillPrimary();
    expect(steps('pg1')).toEqual([]);
  });

  it('answers a replay inside the window with the first answer and runs nothing; an id reused for another request is refused', async () => {
    const call = inspectVm(cluster, node('pg3'));
    const body = stepBody(call);
    const headers = signed('pg3', body);
    const first = await post('pg3', body, headers);
    expect(first.status).toBe(200);
    const replay = await post('pg3', body, headers);
    expect(replay).toEqual({ status: 200, body: { ...first.body, replayed: true } });
    const id = (JSON.parse(body) as { id: string }).id;
    expect(steps('pg3').filter((e) => e.id === id)).toHaveLength(1);
    const reused = JSON.stringify({ ...(JSON.parse(body) as object), timeoutSeconds: 30 });
    expect(await post('pg3', reused, signed('pg3', reused))).toMatchObject({ status: 409, body: { error: 'id-reused' } });
  });

  it('starts a step that runs on after the answer, idempotent by id, and reads its end by polling; an unknown id is 404', async () => {
    const call = inspectVm(cluster, node('pg2'));
    const id = `rejoin-like-${randomUUID()}`;
    const step = { script: call.script, parameters: call.parameters, secrets: {}, timeoutSeconds: 60 };
    await startNodeStep(target('pg2'), id, step);
    await startNodeStep(target('pg2'), id, step); // a retried start finds the run there
    const streams = await waitFor('the started step to end', () => pollNodeStep(target('pg2'), id), { timeoutMs: 30_000, intervalMs: 50 });
    expect(streams.stdout).toMatch(/PGFO_RESULT \{"ok":true,"script":"inspect","node":"pg2"/);
    expect(steps('pg2').filter((e) => e.id === id)).toEqual([expect.objectContaining({ script: 'inspect', exitCode: 0, background: true })]);
    await expect(pollNodeStep(target('pg2'), `never-started-${randomUUID()}`)).rejects.toThrow(NodeStepUnknown);
    const unknown = JSON.stringify({ id: 'never-started-1', poll: true });
    expect(await post('pg2', unknown, signed('pg2', unknown))).toMatchObject({ status: 404, body: { error: 'unknown-id', detail: expect.stringContaining('never started, or forgotten') } });
  });

  it('an agent serving a self-signed certificate runs steps for an app that pins exactly that certificate; any other trust fails before the request is sent', async () => {
    await agents.stop('pg3');
    await new NodeAgents(lab, { checkSeconds: 0.2, stepsTls: 'self-signed' }).start('pg3');
    const selfSigned = (name: string) => labSelfSignedStepsCertificate(lab.layout.nodes.find((n) => n.name === name)!);
    const call = inspectVm(cluster, node('pg3'));
    const step = { script: call.script, parameters: call.parameters, secrets: { PGFO_NEVER_SENT: 'secret' }, timeoutSeconds: 60 };
    const streams = await runNodeStep(target('pg3', keyOf('pg3'), { pinned: selfSigned('pg3') }), step);
    expect(streams.stdout).toMatch(/PGFO_RESULT \{"ok":true,"script":"inspect","node":"pg3"/);
    const ran = steps('pg3').length;
    const refusedBefore = agents.events('pg3').filter((e) => e.event === 'step-refused').length;
    // Another node's certificate pinned (as if pg3's were an impostor's), or the CA expected: the
    // app's TLS refuses the certificate pg3 presents, and the request is never written.
    const impostor = runNodeStep(target('pg3', keyOf('pg3'), { pinned: selfSigned('pg2') }), step);
    await expect(impostor).rejects.toBeInstanceOf(NodeAgentUnavailable);
    await expect(impostor).rejects.toThrow(/^the agent of pg3 could not be reached over TLS: self-signed certificate/);
    await expect(runNodeStep(target('pg3'), step)).rejects.toThrow(NodeAgentUnavailable);
    expect(steps('pg3')).toHaveLength(ran);
    expect(agents.events('pg3').filter((e) => e.event === 'step-refused')).toHaveLength(refusedBefore);
  });
});
