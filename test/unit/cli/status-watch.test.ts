import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { waitFor } from '../../../harness/util/wait';

/** `status --watch` keeps watching through an app that does not answer (a restart, a failover), saying so each time. */
test('pg-failover status --watch: a failed read is reported and the next one tries again', async () => {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));

  const watching = spawn(process.execPath, [resolve(__dirname, '../../../bin/pg-failover.js'), 'status', 'orders', '--watch', '1', '--url', `http://127.0.0.1:${port}`], { env: { ...process.env, PG_FAILOVER_KEY: 'k' } });
  let errors = '';
  watching.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  try {
    await waitFor('two failed reads reported by a watch that goes on', () => errors.split('\n').filter((line) => line.startsWith('pg-failover: fetch failed')).length >= 2 && watching.exitCode === null, { timeoutMs: 60_000 });
  } finally {
    watching.kill('SIGINT');
  }
});
