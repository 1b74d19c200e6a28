import { X509Certificate } from 'node:crypto';

export type PinnableProblem = { kind: 'not-pem' | 'not-self-signed' | 'expired'; text: string };

/**
 * A certificate an agent is trusted by when the app pins it (nodeAgent.certificateSecretPrefix):
 * the TLS handshake accepts exactly that certificate, so it must be one PEM certificate,
 * self-signed and not expired. Says what is wrong with `pem` at `now` (the caller adds what to
 * do), or undefined.
 */
export function pinnableProblem(pem: string, now: Date): PinnableProblem | undefined {
  const certificate = parsedCertificate(pem);
  if (!certificate) return { kind: 'not-pem', text: 'holds no PEM certificate' };
  if (pem.match(/-----BEGIN /g)!.length > 1) return { kind: 'not-pem', text: 'holds more than one PEM block (the certificate alone: never its key, no chain)' };
  if (!certificate.verify(certificate.publicKey)) return { kind: 'not-self-signed', text: `(${certificate.subject}) is not self-signed` };
  if (Date.parse(certificate.validTo) <= now.getTime()) return { kind: 'expired', text: `(${certificate.subject}) expired on ${certificate.validTo}` };
  return undefined;
}

/** Whether two PEM texts hold the same certificate (the same DER bytes, whatever the line breaks). */
export function sameCertificate(a: string, b: string): boolean {
  const [first, second] = [parsedCertificate(a), parsedCertificate(b)];
  return !!first && !!second && first.raw.equals(second.raw);
}

function parsedCertificate(pem: string): X509Certificate | undefined {
  if (!/^\s*-----BEGIN CERTIFICATE-----/.test(pem)) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}
