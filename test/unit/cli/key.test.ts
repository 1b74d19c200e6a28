import { createServer, IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { program } from '../../../cli/main';
import { apiClient } from '../../../cli/switchover-command';

describe("the CLI's function key", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-cli-key-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };

  async function headersSentBy(client: ReturnType<typeof apiClient> | ((url: string) => ReturnType<typeof apiClient>)): Promise<IncomingHttpHeaders> {
    let seen: IncomingHttpHeaders = {};
    const server = createServer((req, res) => {
      seen = req.headers;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await (typeof client === 'function' ? client(url) : client).request('GET', 'clusters/orders/health');
    } finally {
      server.close();
    }
    return seen;
  }

  it('comes from --key-file (trimmed) or $PG_FAILOVER_KEY, and travels only in the x-functions-key header', async () => {
    expect((await headersSentBy((url) => apiClient({ url, keyFile: file('key', 'k-from-file\n') })))['x-functions-key']).toBe('k-from-file');
    process.env.PG_FAILOVER_KEY = 'k-from-env';
    try {
      expect((await headersSentBy((url) => apiClient({ url })))['x-functions-key']).toBe('k-from-env');
    } finally {
      delete process.env.PG_FAILOVER_KEY;
    }
  });

  it('a key file that cannot be read or is empty is a clear error', () => {
    expect(() => apiClient({ url: 'http://127.0.0.1:9', keyFile: join(dir, 'missing') })).toThrow(/--key-file .*missing cannot be read .*: give a file that holds the function key/);
    expect(() => apiClient({ url: 'http://127.0.0.1:9', keyFile: file('empty', '\n') })).toThrow(/is empty: put the function key in it/);
  });

  it('is never taken on the command line, where ps and the shell history would show it', async () => {
    const cli = program();
    for (const command of [cli, ...cli.commands]) command.exitOverride().configureOutput({ writeErr: () => undefined });
    await expect(cli.parseAsync(['node', 'pg-failover', 'switchover', 'orders', '--key', 'k'])).rejects.toThrow(/unknown option '--key'/);
  });
});
