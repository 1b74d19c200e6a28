import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface EmulatorCertificate {
  /** Directory holding the files (mode 0700); removed by the emulator's stop(). */
  dir: string;
  /** The CA certificate clients must trust (PG_FAILOVER_LOCAL_CA_FILE). */
  caFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * A throw-away CA and a server certificate for `host`, made with the openssl CLI (Debian's
 * `openssl` package, pulled in by ca-certificates; Node cannot issue certificates itself).
 * A separate CA rather than one self-signed leaf, because that is how clients are meant to trust
 * servers (and it keeps the CA key out of the server's hands in spirit, if not on disk).
 */
export async function createEmulatorCertificate(host: string): Promise<EmulatorCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'pgfo-azure-emulator-'));
  const path = (name: string) => join(dir, name);
  const altNames = [...new Set([isIP(host) ? `IP:${host}` : `DNS:${host}`, 'IP:127.0.0.1', 'DNS:localhost'])].join(',');
  await writeFile(
    path('server.ext'),
    [`subjectAltName=${altNames}`, 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ''].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await openssl(['req', '-x509', ...ec, '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '7', '-subj', '/CN=pg-failover local Azure emulator CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await openssl(['req', ...ec, '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', `/CN=${host}`]);
    await openssl(['x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '7', '-extfile', path('server.ext'), '-out', path('server.pem')]);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the local Azure emulator needs the openssl command to make its certificate: apt-get install openssl');
    throw new Error(`openssl failed to make the emulator certificate: ${e.stderr?.trim() || e.message}`);
  }
  const [caPem, certPem, keyPem] = await Promise.all([readFile(path('ca.pem'), 'utf8'), readFile(path('server.pem'), 'utf8'), readFile(path('server.key'), 'utf8')]);
  return { dir, caFile: path('ca.pem'), caPem, certPem, keyPem };
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeout: 30_000 });
}
