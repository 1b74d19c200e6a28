import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_NODE_AUTH_AUDIENCE, LocalStack } from '../../../harness/local/stack';
import { startScheduledEventsEmulator, ScheduledEventsEmulator } from '../../../harness/local/azure-emulator';
import { LAB_SECRETS } from '../../../harness/local/lab-cluster';
import { nodeAgentFiles } from '../../../harness/lab/node-agents';
import { findLostCommits, WriteLoad } from '../../../harness/load/write-load';
import { waitFor } from '../../../harness/util/wait';
import { api, startTestStack, vmIdentity } from '../../support/stack';
import { switchoverAndWait } from '../../support/operations';
import { check, probedUpForWrites } from '../failover/support';
import { runScript, startScript, writeAgentConfig } from '../../unit/agent/support';

/**
 * The real enrollment script (agent/step-enrollment.sh, as install.sh --enroll-steps runs it on
 * each VM) against the app: each agent gives the app the self-signed certificate it serves its
 * steps with and its step key, with only its VM's identity token; the app pins both in Key Vault,
 * once. Before, the app has nothing to reach the agents by (their steps would go through Run
 * Command); after, a switchover runs every step on the agents.
 */
describe('step enrollment: the agents give the app their certificates and keys, then the steps skip Run Command', () => {
  let stack: LocalStack;
  /** The VMs' metadata service: the script's only credential is its VM's managed identity token from it. */
  let imds: ScheduledEventsEmulator;

  beforeAll(async () => {
    stack = await startTestStack('79.1', { loadBalancing: 'probe', agentTrust: 'enrolled' });
    imds = await startScheduledEventsEmulator({
      host: '127.79.1.1',
      vms: stack.cluster.nodes.map((n) => n.name),
      identity: { entra: stack.azure.entra, vmResourceId: (vm) => stack.cluster.nodes.find((n) => n.name === vm)!.vmResourceId },
    });
  });
  afterAll(async () => {
    await imds?.stop();
    await stack?.stop();
  });

  const layoutOf = (node: string) => stack.lab.layout.nodes.find((n) => n.name === node)!;
  const files = (node: string) => ({ certificate: nodeAgentFiles(layoutOf(node)).selfSignedCert, stepKey: nodeAgentFiles(layoutOf(node)).stepKey });
  const stored = (node: string) => ({
    certificate: stack.azure.control.secret(`${LAB_SECRETS.stepCertificatePrefix}-${node}`),
    stepKey: stack.azure.control.secret(`${LAB_SECRETS.stepKeyPrefix}-${node}`),
  });
  const nothingStored = { certificate: undefined, stepKey: undefined };
  /** The script on `node`'s VM; `vm` is whose metadata service (so whose identity) it asks for its token. */
  const enrollArgs = (node: string, options: { vm?: string; certificate?: string; attempts?: number } = {}) => [
    '--config',
    writeAgentConfig({ PGFO_APP_URL: stack.origin!, PGFO_CLUSTER: stack.cluster.name, PGFO_NODE: node, PGFO_APP_RESOURCE: LOCAL_NODE_AUTH_AUDIENCE, PGFO_IMDS_URL: imds.baseUrl(options.vm ?? node) }).file,
    '--certificate',
    options.certificate ?? files(node).certificate,
    '--step-key',
    files(node).stepKey,
    ...(options.attempts === undefined ? [] : ['--attempts', String(options.attempts)]),
  ];
  const enroll = (node: string, options: { vm?: string; certificate?: string; attempts?: number } = {}) => runScript('step-enrollment.sh', enrollArgs(node, { attempts: 1, ...options }));
  const runCommandsSince = (from: number) => stack.azure.record.executions.slice(from).map((e) => ({ vm: e.vm, script: /# =+ (\S+)\.sh/.exec(e.scriptText)?.[1] }));

  it("refuses another VM's identity, a certificate from a CA and a malformed key, and stores nothing", async () => {
    const asOther = await enroll('pg1', { vm: 'pg2' });
    expect(asOther).toMatchObject({ code: 4, results: [{ agent: 'step-enrollment', outcome: 'gave-up', detail: expect.stringMatching(/^HTTP 403: .*a VM may call only its own node's routes/) }] });

    const fromCa = await enroll('pg1', { certificate: layoutOf('pg1').certFile });
    expect(fromCa).toMatchObject({ code: 3, results: [{ outcome: 'refused', detail: expect.stringMatching(/^HTTP 400: certificate: certificate \(.*\) is not self-signed/) }] });

    const shortKey = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/step-enrollment`, { certificate: readFileSync(files('pg1').certificate, 'utf8'), stepKey: 'c2hvcnQ=' }, vmIdentity(stack, 'pg1'));
    expect(shortKey).toMatchObject({ status: 400, body: { errors: [{ field: 'stepKey', message: expect.stringMatching(/base64 of at least 32 random bytes/) }] } });
    const valid = { certificate: readFileSync(files('pg1').certificate, 'utf8'), stepKey: readFileSync(files('pg1').stepKey, 'utf8').trim() };
    const unknownField = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/step-enrollment`, { ...valid, adminPassword: 'z' }, vmIdentity(stack, 'pg1'));
    expect(unknownField).toMatchObject({ status: 400, body: { errors: [{ field: '(body)', message: expect.stringMatching(/unknown field\(s\) adminPassword/) }] } });
    const withKey = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/step-enrollment`, { ...valid, certificate: `${valid.certificate}${readFileSync(nodeAgentFiles(layoutOf('pg1')).selfSignedKey, 'utf8')}` }, vmIdentity(stack, 'pg1'));
    expect(withKey).toMatchObject({ status: 400, body: { errors: [{ field: 'certificate', message: expect.stringMatching(/more than one PEM block/) }] } });
    const anonymous = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg1/step-enrollment`, {}, null);
    expect(anonymous.status).toBe(401);

    for (const node of ['pg1', 'pg2', 'pg3']) expect(stored(node)).toEqual(nothingStored);
  });

  it('asks again while Key Vault refuses the app the write (503), and enrolls once the app may write', async () => {
    stack.azure.control.setKeyVaultRole('Key Vault Secrets User');
    const refusedWrites = () => stack.azure.record.requests.filter((r) => r.method === 'PUT' && r.url.startsWith('/secrets/') && r.status === 403).length;
    const before = refusedWrites();
    const running = startScript('step-enrollment.sh', enrollArgs('pg3'));
    try {
      await waitFor('Key Vault to refuse the app a write', async () => refusedWrites() > before || undefined, { timeoutMs: 30_000 });
      expect(stored('pg3')).toEqual(nothingStored);
    } finally {
      stack.azure.control.setKeyVaultRole('Key Vault Secrets Officer');
    }
    const run = await running.exited;
    expect(run).toMatchObject({ code: 0, results: [{ outcome: 'enrolled', node: 'pg3' }] });
    expect(run.stderr).toMatch(/not enrolled yet \(HTTP 503: Could not store secret "pg-step-key-pg3" in Key Vault \(403: .*\): grant the app's identity Key Vault Secrets Officer/);
  });

  it('enrolls each node with its own identity, once; the same enrollment again changes nothing, another certificate is refused (409)', async () => {
    for (const node of ['pg1', 'pg2']) expect(await enroll(node)).toMatchObject({ code: 0, results: [{ outcome: 'enrolled', node }] });
    for (const node of ['pg1', 'pg2', 'pg3']) {
      expect(stored(node)).toEqual({ certificate: readFileSync(files(node).certificate, 'utf8'), stepKey: readFileSync(files(node).stepKey, 'utf8').trim() });
    }
    expect(await enroll('pg1')).toMatchObject({ code: 0, results: [{ outcome: 'unchanged' }] });
    const otherKey = await api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg2/step-enrollment`, { certificate: readFileSync(files('pg2').certificate, 'utf8'), stepKey: randomBytes(32).toString('base64') }, vmIdentity(stack, 'pg2'));
    expect(otherKey).toMatchObject({ status: 409, body: { differs: ['pg-step-key-pg2'], detail: expect.stringMatching(/a new version of both \(az keyvault secret set --name pg-step-key-pg2 --value revoked, the same for pg-step-cert-pg2; a rebuilt VM\)/) } });

    const before = stored('pg1');
    const other = join(mkdtempSync(join(tmpdir(), 'pgfo-other-cert-')), 'steps.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pg1', '-keyout', `${other}.key`, '-out', other], { stdio: 'ignore' });
    const replaced = await enroll('pg1', { certificate: other });
    expect(replaced).toMatchObject({ code: 3, results: [{ outcome: 'refused', detail: expect.stringMatching(/^HTTP 409: Key Vault holds another usable value in pg-step-cert-pg1: .*a new version of pg-step-cert-pg1 alone \(az keyvault secret set --name pg-step-cert-pg1 --value revoked/) }] });
    expect(stored('pg1')).toEqual(before);
    // The operator's way to enroll it anew: a new version of both secrets that is no certificate or key.
    stack.azure.control.setSecret(`${LAB_SECRETS.stepKeyPrefix}-pg1`, 'revoked');
    stack.azure.control.setSecret(`${LAB_SECRETS.stepCertificatePrefix}-pg1`, 'revoked');
    expect(await enroll('pg1', { certificate: other })).toMatchObject({ code: 0, results: [{ outcome: 'enrolled' }] });
    expect(stored('pg1')).toEqual({ certificate: readFileSync(other, 'utf8'), stepKey: before.stepKey });
    stack.azure.control.setSecret(`${LAB_SECRETS.stepCertificatePrefix}-pg1`, 'revoked');
    expect(await enroll('pg1')).toMatchObject({ code: 0, results: [{ outcome: 'enrolled' }] });
    expect(stored('pg1')).toEqual(before);
  });

  it('two enrollments of one node racing: never both stored as posted, and a 201 only for the values Key Vault holds', async () => {
    const revoke = () => {
      stack.azure.control.setSecret(`${LAB_SECRETS.stepKeyPrefix}-pg3`, 'revoked');
      stack.azure.control.setSecret(`${LAB_SECRETS.stepCertificatePrefix}-pg3`, 'revoked');
    };
    const own = { certificate: readFileSync(files('pg3').certificate, 'utf8'), stepKey: readFileSync(files('pg3').stepKey, 'utf8').trim() };
    const other = join(mkdtempSync(join(tmpdir(), 'pgfo-racer-')), 'steps.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pg3', '-keyout', `${other}.key`, '-out', other], { stdio: 'ignore' });
    const racer = { certificate: readFileSync(other, 'utf8'), stepKey: randomBytes(32).toString('base64') };
    const post = (body: typeof own) => api(stack, 'POST', `clusters/${stack.cluster.name}/nodes/pg3/step-enrollment`, body, vmIdentity(stack, 'pg3'));
    for (let round = 0; round < 5; round++) {
      revoke();
      const answers = await Promise.all([post(own), post(racer)]);
      expect(answers.map((a) => a.status).sort()).not.toEqual([201, 201]);
      for (const [index, answer] of answers.entries()) {
        expect([201, 409]).toContain(answer.status);
        if (answer.status === 201) expect(stored('pg3')).toEqual(index === 0 ? own : racer);
      }
    }
    revoke();
    expect(await enroll('pg3')).toMatchObject({ code: 0, results: [{ outcome: 'enrolled' }] });
    expect(stored('pg3')).toEqual(own);
  });

  it('then switches over under a write load with every step on the agents: no Run Command, no lost commit', async () => {
    await check(stack);
    await waitFor('the write rule to probe pg1 up', async () => probedUpForWrites(stack, 'pg1'), { timeoutMs: 30_000 });
    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(30);
    const runCommandsBefore = stack.azure.record.executions.length;

    const report = await switchoverAndWait(stack, { target: 'pg2' });

    await load.waitForCommits(30);
    const writes = await load.stop();
    expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', problems: [] });
    expect(runCommandsSince(runCommandsBefore)).toEqual([]);
    expect(await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged)).toEqual([]);
    const status = await stack.lab.waitUntilHealthy();
    expect(status.nodes.filter((n) => n.role === 'primary').map((n) => n.name)).toEqual(['pg2']);
  });
});
