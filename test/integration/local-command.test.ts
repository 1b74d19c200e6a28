import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { nodeArgsFor } from '../../harness/util/node-script';

/** `npm run local` as an operator runs it: a separate process serving the app until Ctrl-C. */
describe('npm run local', () => {
  const labDir = mkdtempSync(join(tmpdir(), 'pgfo-local-lab-'));
  const origin = 'http://127.20.5.1:7071';
  let child: ChildProcess;
  let output = '';

  beforeAll(async () => {
    child = spawn(process.execPath, [...nodeArgsFor(join(__dirname, '../../harness/local/main.ts')), '--host', '127.20.5.1', '--address-block', '20.5'], {
      env: { ...process.env, PG_FAILOVER_LAB_DIR: labDir, PG_FAILOVER_KEY: 'local-test-key', PG_FAILOVER_QUIET: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ready; Ctrl-C stops everything')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm run local exited (${code}) before it was ready:\n${output}`)));
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await ready;
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    rmSync(labDir, { recursive: true, force: true });
  });

  it('prints where everything listens', () => {
    expect(output).toMatch(/local Azure listening on https:\/\/127\.20\.5\.1:\d+/);
    expect(output).toContain('load balancer: write 127.20.5.1:5432, read 127.20.5.2:5432');
    expect(output).toContain(`app: ${origin}/api  (x-functions-key: local-test-key)`);
  });

  it('serves the app routes with the key and refuses them without it', async () => {
    expect((await fetch(`${origin}/api/clusters/lab`)).status).toBe(401);
    const response = await fetch(`${origin}/api/clusters/lab`, { headers: { 'x-functions-key': 'local-test-key' } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { nodes: { role: string }[] }).nodes.map((n) => n.role)).toEqual(['primary', 'standby', 'standby']);
  });

  it('stops cleanly on Ctrl-C, taking the lab down', async () => {
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    expect(existsSync(labDir)).toBe(false);
    await expect(fetch(`${origin}/api/clusters/lab`)).rejects.toThrow();
  });
});
