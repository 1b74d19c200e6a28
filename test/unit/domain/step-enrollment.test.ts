import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pinnableProblem, sameCertificate } from '../../../src/domain/pinned-certificate';
import { planEnrollment, stepKeyBytes } from '../../../src/domain/step-enrollment';

/** A self-signed certificate made with openssl, valid for `days` from now. */
function selfSigned(name: string, days = 30): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-enroll-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', `/CN=${name}`, '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
  return readFileSync(join(dir, 'c'), 'utf8');
}

describe('step enrollment: what the app stores', () => {
  const now = new Date();
  const certificate = selfSigned('pg1');
  const stepKey = randomBytes(32).toString('base64');
  const posted = { certificate, stepKey };

  it('stores what is missing, the key before the certificate; nothing when both are stored as posted', () => {
    expect(planEnrollment(posted, {}, now)).toEqual({ kind: 'store', missing: ['stepKey', 'certificate'] });
    expect(planEnrollment(posted, { stepKey }, now)).toEqual({ kind: 'store', missing: ['certificate'] });
    expect(planEnrollment(posted, { stepKey: `${stepKey}\n`, certificate: certificate.replaceAll('\n', '\r\n') }, now)).toEqual({ kind: 'store', missing: [] });
  });

  it('never replaces a usable value: another certificate or key is a conflict, and nothing is stored', () => {
    expect(planEnrollment(posted, { certificate: selfSigned('pg1') }, now)).toEqual({ kind: 'conflict', differs: ['certificate'] });
    expect(planEnrollment(posted, { stepKey: randomBytes(32).toString('base64'), certificate }, now)).toEqual({ kind: 'conflict', differs: ['stepKey'] });
  });

  it('counts a stored value the steps could not use as missing: the operator\'s way to enroll anew, and a certificate that expired', () => {
    expect(planEnrollment(posted, { stepKey: 'revoked', certificate: 'revoked' }, now)).toEqual({ kind: 'store', missing: ['stepKey', 'certificate'] });
    const later = new Date(now.getTime() + 2 * 86_400_000);
    expect(planEnrollment({ certificate: selfSigned('pg1', 30), stepKey }, { stepKey, certificate: selfSigned('pg1', 1) }, later)).toEqual({ kind: 'store', missing: ['certificate'] });
    // The key still binds the node: a new certificate with another key is refused.
    expect(planEnrollment({ certificate: selfSigned('pg1', 30), stepKey: randomBytes(32).toString('base64') }, { stepKey, certificate: 'revoked' }, now)).toEqual({ kind: 'conflict', differs: ['stepKey'] });
  });

  it('takes a step key only as base64 of at least 32 bytes', () => {
    expect(stepKeyBytes(stepKey)).toHaveLength(32);
    expect(stepKeyBytes(` ${stepKey}\n`)).toHaveLength(32);
    // As openssl rand -base64 48 wraps it (64 characters a line): a working key is usable, never "missing".
    const wrapped = randomBytes(48).toString('base64');
    expect(stepKeyBytes(`${wrapped.slice(0, 64)}\n${wrapped.slice(64)}\n`)).toHaveLength(48);
    expect(planEnrollment(posted, { stepKey: `${wrapped.slice(0, 64)}\n${wrapped.slice(64)}\n`, certificate }, now)).toEqual({ kind: 'conflict', differs: ['stepKey'] });
    expect(stepKeyBytes(randomBytes(31).toString('base64'))).toBeUndefined();
    expect(stepKeyBytes(`${stepKey.slice(0, -1)}*`)).toBeUndefined();
    expect(stepKeyBytes('')).toBeUndefined();
  });

  it('pins only one PEM certificate, self-signed and in date', () => {
    expect(pinnableProblem(certificate, now)).toBeUndefined();
    expect(pinnableProblem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', now)).toMatchObject({ kind: 'not-pem' });
    // A certificate with its key (or a chain) after it: never stored, the key would go to Key Vault.
    expect(pinnableProblem(`${certificate}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`, now)).toMatchObject({ kind: 'not-pem', text: expect.stringMatching(/more than one PEM block/) });
    expect(pinnableProblem(`${certificate}${selfSigned('pg2')}`, now)).toMatchObject({ kind: 'not-pem' });
    expect(pinnableProblem(selfSigned('pg1', 1), new Date(now.getTime() + 2 * 86_400_000))).toMatchObject({ kind: 'expired', text: expect.stringMatching(/^\(CN=pg1\) expired on /) });
    expect(sameCertificate(certificate, certificate.replaceAll('\n', '\r\n'))).toBe(true);
    expect(sameCertificate(certificate, selfSigned('pg1'))).toBe(false);
    expect(sameCertificate('revoked', 'revoked')).toBe(false);
  });
});
