import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../../util/certificates';

export interface EmulatorCertificate {
  /** Directory holding the files (mode 0700); removed by the emulator's stop(). */
  dir: string;
  /** The CA certificate clients must trust (PG_FAILOVER_LOCAL_CA_FILE). */
  caFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A throw-away CA and a server certificate for `host` (and localhost). */
export async function createEmulatorCertificate(host: string): Promise<EmulatorCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'pgfo-azure-emulator-'));
  const ca = await createCertificateAuthority(dir, 'pg-failover local Azure emulator CA', 7);
  const server = await issueServerCertificate(ca, dir, 'server', [host, '127.0.0.1', 'localhost'], 7);
  const [caPem, certPem, keyPem] = await Promise.all([readFile(ca.caFile, 'utf8'), readFile(server.certFile, 'utf8'), readFile(server.keyFile, 'utf8')]);
  return { dir, caFile: ca.caFile, caPem, certPem, keyPem };
}
