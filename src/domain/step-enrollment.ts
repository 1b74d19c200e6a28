import { pinnableProblem, sameCertificate } from './pinned-certificate';

/**
 * Enrolling a node's agent for the node steps: the agent posts the self-signed certificate it
 * serves its steps with and the step key it made, and the app stores both in Key Vault as the
 * node's pinned certificate and step key (nodeAgent.certificateSecretPrefix, stepKeySecretPrefix).
 *
 * Trust on first use: a call stores what is missing and never replaces a usable value. Any process
 * on the VM can get the VM's identity token, so a call that could replace the certificate would
 * let a local user point the steps, and the admin password they carry, at a server of their own;
 * replacing the key would let them run steps. A stored value the steps could not use (no
 * certificate, an expired one, no step key) counts as missing: re-enrolling a node (a rebuilt VM,
 * a new certificate) is an operator's act, who stores such a value as a new version of both
 * secrets (deleting them would not do: Key Vault keeps a deleted name, under purge protection for
 * 90 days).
 */
export interface StepEnrollment {
  /** PEM of the agent's self-signed steps certificate. */
  certificate: string;
  /** The node's step key: base64 of at least 32 random bytes. */
  stepKey: string;
}

export type EnrollmentPart = keyof StepEnrollment;

export type EnrollmentPlan =
  /** Store `missing` (the step key first: a stored certificate says the enrollment is whole); nothing when both are there already. A stored value the steps could not use is missing. */
  | { kind: 'store'; missing: EnrollmentPart[] }
  /** What is stored differs from what was posted: nothing is stored. */
  | { kind: 'conflict'; differs: EnrollmentPart[] };

export function planEnrollment(posted: StepEnrollment, stored: Partial<StepEnrollment>, now: Date): EnrollmentPlan {
  const parts: EnrollmentPart[] = ['stepKey', 'certificate'];
  const usable = (part: EnrollmentPart, value: string | undefined): value is string =>
    value !== undefined && (part === 'certificate' ? !pinnableProblem(value, now) : stepKeyBytes(value) !== undefined);
  const same = (part: EnrollmentPart, value: string) => (part === 'certificate' ? sameCertificate(value, posted.certificate) : sameKey(value, posted.stepKey));
  const differs = parts.filter((part) => usable(part, stored[part]) && !same(part, stored[part]!));
  if (differs.length) return { kind: 'conflict', differs };
  return { kind: 'store', missing: parts.filter((part) => !usable(part, stored[part])) };
}

/** The bytes of a base64 step key (line breaks allowed, as openssl rand -base64 wraps); undefined unless at least 32 bytes. */
export function stepKeyBytes(text: string): Buffer | undefined {
  const trimmed = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length >= 32 ? bytes : undefined;
}

function sameKey(a: string, b: string): boolean {
  const [first, second] = [stepKeyBytes(a), stepKeyBytes(b)];
  return !!first && !!second && first.equals(second);
}
