import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throw-away certificate authority: its certificate (what clients trust) and key, as files. */
export interface CertificateAuthority {
  caFile: string;
  keyFile: string;
}

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Made with the openssl CLI (Debian's `openssl` package, pulled in by ca-certificates; Node cannot
 * issue certificates itself). A CA rather than self-signed leaves, because that is how clients
 * are meant to trust servers: `verify-full` checks the chain and the host name.
 */
export async function createCertificateAuthority(dir: string, commonName: string, days: number): Promise<CertificateAuthority> {
  const ca = { caFile: join(dir, 'ca.pem'), keyFile: join(dir, 'ca.key') };
  await openssl(['req', '-x509', ...EC_KEY, '-keyout', ca.keyFile, '-out', ca.caFile, '-days', String(days), '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return ca;
}

/** A server certificate signed by `ca`, valid for every host (IP address or DNS name) given. */
export async function issueServerCertificate(ca: CertificateAuthority, dir: string, name: string, hosts: readonly string[], days: number): Promise<ServerCertificate> {
  const file = (suffix: string) => join(dir, `${name}.${suffix}`);
  const altNames = [...new Set(hosts.map((host) => (isIP(host) ? `IP:${host}` : `DNS:${host}`)))].join(',');
  await writeFile(file('ext'), [`subjectAltName=${altNames}`, 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ''].join('\n'));
  await openssl(['req', ...EC_KEY, '-keyout', file('key'), '-out', file('csr'), '-subj', `/CN=${hosts[0]}`]);
  await openssl(['x509', '-req', '-in', file('csr'), '-CA', ca.caFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', String(days), '-extfile', file('ext'), '-out', file('crt')]);
  return { certFile: file('crt'), keyFile: file('key') };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('making certificates needs the openssl command: apt-get install openssl');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}
