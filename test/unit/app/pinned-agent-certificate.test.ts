import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { AgentFirstVmCommands } from '../../../src/adapters/agent/agent-first-vm-commands';
import { NodeAgentUnavailable, runNodeStep, type AgentTrust } from '../../../src/adapters/agent/node-steps';
import type { NodeConfig } from '../../../src/config/schema';
import { SecretValue } from '../../../src/domain/secret-value';
import type { VmCommandOutcome, VmCommands } from '../../../src/ports/vm-commands';

/**
 * The app's side of a pinned agent certificate (nodeAgent.certificateSecretPrefix): it talks to an
 * agent that presents exactly the pinned certificate, and to nothing else — not even to a server
 * whose certificate was issued with the pinned one's key — and sends it no byte then. A secret it
 * could never pin (not a certificate, not self-signed) sends the step to Run Command, saying why.
 */
describe('a pinned agent certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-pinned-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const pem = (name: string) => ({ cert: readFileSync(file(`${name}.crt`), 'utf8'), key: readFileSync(file(`${name}.key`), 'utf8') });
  let agent: HttpsServer;
  let impostor: TlsServer;
  let requests = 0;
  /** Request bytes that reached the impostor over TLS, and its TCP connections, each resolved once closed. */
  let impostorReceived = 0;
  const impostorConnections: Promise<void>[] = [];

  beforeAll(async () => {
    // A self-signed certificate that may also sign (a CA), and one issued with its key.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pinned', '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', file('pinned.key'), '-out', file('pinned.crt'));
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=issued', '-keyout', file('issued.key'), '-out', file('issued.csr'));
    openssl('x509', '-req', '-in', file('issued.csr'), '-CA', file('pinned.crt'), '-CAkey', file('pinned.key'), '-CAcreateserial', '-days', '30', '-out', file('issued.crt'));
    agent = createHttpsServer(pem('pinned'), (req, res) => {
      requests++;
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: 'x', script: 'inspect', exitCode: 0, timedOut: false, stdout: 'PGFO_RESULT {"ok":true}\n', stderr: '' }));
    });
    impostor = createTlsServer(pem('issued'), (socket) => {
      socket.on('data', (chunk: Buffer) => (impostorReceived += chunk.length));
      socket.on('error', () => undefined);
    });
    impostor.on('connection', (tcp: Socket) => impostorConnections.push(new Promise((resolve) => tcp.on('close', () => resolve()))));
    impostor.on('tlsClientError', () => undefined);
    await Promise.all([agent, impostor].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  });

  afterAll(async () => {
    await Promise.all([agent, impostor].map((server) => new Promise((resolve) => server.close(resolve))));
    rmSync(dir, { recursive: true, force: true });
  });

  const step = { script: { name: 'inspect', text: '#!/bin/bash\n' }, parameters: {}, secrets: { PGFO_SECRET: 'never sent to another' }, timeoutSeconds: 10 };
  const portOf = (server: HttpsServer | TlsServer) => (server.address() as AddressInfo).port;
  const call = (server: HttpsServer | TlsServer, trust: AgentTrust) => runNodeStep({ node: 'pg1', host: '127.0.0.1', port: portOf(server), key: Buffer.alloc(32, 1), trust }, step);

  it('talks to the agent that presents exactly the pinned certificate, whatever names it carries', async () => {
    expect((await call(agent, { pinned: pem('pinned').cert })).stdout).toContain('PGFO_RESULT');
    expect(requests).toBe(1);
  });

  it('sends no byte to a server presenting another certificate, even one issued with the pinned key', async () => {
    const refused = call(impostor, { pinned: pem('pinned').cert });
    await expect(refused).rejects.toBeInstanceOf(NodeAgentUnavailable);
    await expect(refused).rejects.toThrow(/the agent of pg1 presented a certificate \(.+\) other than the one pinned for it \(.+\)/);
    await Promise.all(impostorConnections);
    expect(impostorConnections).toHaveLength(1);
    expect(impostorReceived).toBe(0);
  });

  it('runs the step through Run Command, saying why, when the pinned secret is no certificate or not a self-signed one', async () => {
    const node = { name: 'pg1', vmResourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/pg1', host: '127.0.0.1', port: 5432 } as NodeConfig;
    const viaRunCommand: string[] = [];
    const warnings: Record<string, unknown>[] = [];
    const outcome = { result: { ok: true } } as unknown as VmCommandOutcome;
    const runCommand = { run: async () => (viaRunCommand.push('run'), outcome) } as unknown as VmCommands;
    const commands = (pinned: string) =>
      new AgentFirstVmCommands(runCommand, {
        cluster: 'orders',
        nodes: [{ ...node, host: '127.0.0.1' }],
        port: portOf(agent),
        keyOf: async () => new SecretValue('pg-step-key-pg1', Buffer.alloc(32, 1).toString('base64')),
        trustOf: async () => ({ pinned }),
        log: { info: () => undefined, warn: (_event, fields) => warnings.push(fields ?? {}) },
      });
    const before = requests;
    for (const pinned of ['MIIB...not a certificate', pem('issued').cert]) await commands(pinned).run(node, { script: step.script });
    expect(viaRunCommand).toEqual(['run', 'run']);
    expect(requests).toBe(before);
    expect(warnings.map((w) => w.why)).toEqual([expect.stringMatching(/holds no PEM certificate: store the \.crt file as a secret/), expect.stringMatching(/\(CN=issued\) is not self-signed/)]);
  });
});
