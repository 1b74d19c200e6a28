import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgentUnavailable, runNodeStep, type AgentTrust } from '../../../src/adapters/agent/node-steps';

/**
 * The app's side of a pinned agent certificate (nodeAgent.certificateSecretPrefix): it talks to an
 * agent that presents exactly the pinned certificate, and to nothing else — not even to a server
 * whose certificate was issued with the pinned one's key — and sends no byte of the request then.
 */
describe('a pinned agent certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-pinned-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  let server: Server;
  let requests = 0;
  const present = (name: string) => ({ cert: readFileSync(file(`${name}.crt`), 'utf8'), key: readFileSync(file(`${name}.key`), 'utf8') });

  beforeAll(async () => {
    // A self-signed certificate (openssl's defaults make it a CA too), and one issued with its key.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pinned', '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', file('pinned.key'), '-out', file('pinned.crt'));
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=issued', '-keyout', file('issued.key'), '-out', file('issued.csr'));
    openssl('x509', '-req', '-in', file('issued.csr'), '-CA', file('pinned.crt'), '-CAkey', file('pinned.key'), '-CAcreateserial', '-days', '30', '-out', file('issued.crt'));
    server = createServer(present('pinned'), (req, res) => {
      requests++;
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: 'x', script: 'inspect', exitCode: 0, timedOut: false, stdout: 'PGFO_RESULT {"ok":true}\n', stderr: '' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const step = { script: { name: 'inspect', text: '#!/bin/bash\n' }, parameters: {}, secrets: { PGFO_SECRET: 'never sent to another' }, timeoutSeconds: 10 };
  const call = (trust: AgentTrust) => runNodeStep({ node: 'pg1', host: '127.0.0.1', port: (server.address() as AddressInfo).port, key: Buffer.alloc(32, 1), trust }, step);

  it('talks to the agent that presents exactly the pinned certificate, whatever names it carries', async () => {
    const before = requests;
    server.setSecureContext(present('pinned'));
    expect((await call({ pinned: present('pinned').cert })).stdout).toContain('PGFO_RESULT');
    expect(requests).toBe(before + 1);
  });

  it('sends nothing to a server presenting another certificate, even one issued with the pinned key', async () => {
    const before = requests;
    server.setSecureContext(present('issued'));
    const refused = call({ pinned: present('pinned').cert });
    await expect(refused).rejects.toBeInstanceOf(NodeAgentUnavailable);
    await expect(refused).rejects.toThrow(/the agent of pg1 presented a certificate \(.+\) other than the one pinned for it \(.+\)/);
    expect(requests).toBe(before);
  });
});
