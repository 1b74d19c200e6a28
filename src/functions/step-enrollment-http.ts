import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { clusterServices, locateNode, nodeAuthentication } from '../app/services';
import { authenticateNode } from '../app/node-auth';
import { pinnableProblem } from '../domain/pinned-certificate';
import { type EnrollmentPart, planEnrollment, type StepEnrollment, stepKeyBytes } from '../domain/step-enrollment';
import { SecretNotFoundError, SecretStoreError } from '../ports/errors';
import type { SecretStore } from '../ports/secrets';
import { invalidBody, json, problemResponse, readJsonBody } from '../http/problem';
import { handleErrors } from '../http/common';

const EnrollmentBody = z.strictObject({
  certificate: z
    .string('certificate must be text: the PEM of the self-signed certificate this node\'s agent serves its steps with')
    .superRefine((pem, ctx) => {
      const problem = pinnableProblem(pem, new Date());
      if (problem) ctx.addIssue({ code: 'custom', message: `certificate ${problem.text}: send the agent's own self-signed steps certificate, in date (the .crt file, never its key)` });
    }),
  stepKey: z
    .string('stepKey must be text: this node\'s step key, base64')
    .refine((text) => stepKeyBytes(text) !== undefined, 'stepKey must be base64 of at least 32 random bytes (openssl rand -base64 32)'),
});

/**
 * POST /api/clusters/{cluster}/nodes/{node}/step-enrollment — the node's agent (install.sh
 * --enroll-steps) tells the app the certificate it serves its steps with and its step key; the app
 * pins both in Key Vault (src/domain/step-enrollment.ts: stored once, a usable value never
 * replaced by a call).
 * 201 stored, 200 already stored as posted, 409 another certificate or key is stored (or the
 * cluster pins none), 503 Key Vault refused the write. Only the node's own VM may call it.
 */
export async function stepEnrollmentHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleErrors(async () => {
    const { cluster, node } = await authenticateNode(request.headers.get('authorization'), () => locateNode(request), nodeAuthentication());
    const read = await readJsonBody(request);
    if (!read.ok) return read.response;
    const parsed = EnrollmentBody.safeParse(read.body);
    if (!parsed.success) return invalidBody(parsed.error, 'certificate, stepKey');
    const names = secretNamesOf(cluster, node);
    if (!names) {
      return problemResponse({
        status: 409,
        title: 'This cluster does not enroll node agents',
        detail: `cluster ${cluster.name} pins no agent certificates: enrolling needs nodeAgent with certificateSecretPrefix in the app's configuration (or give the agent its step key and certificate by hand: install.sh --steps-key-file, and postgres.sslRootCertSecret)`,
      });
    }
    try {
      return await enroll(clusterServices(cluster.name).secrets, names, parsed.data, node.name, context);
    } catch (error) {
      if (!(error instanceof SecretStoreError)) throw error;
      context.error(JSON.stringify({ event: 'step-enrollment.key-vault', cluster: cluster.name, node: node.name, error: error.toJSON() }));
      return { ...problemResponse({ status: 503, title: 'Key Vault did not take the enrollment', detail: error.message }), headers: { 'content-type': 'application/problem+json', 'retry-after': '60' } };
    }
  }, context);
}

function secretNamesOf(cluster: ClusterConfig, node: NodeConfig): Record<EnrollmentPart, string> | undefined {
  const prefixes = cluster.nodeAgent;
  if (!prefixes?.certificateSecretPrefix) return undefined;
  return { stepKey: `${prefixes.stepKeySecretPrefix}-${node.name}`, certificate: `${prefixes.certificateSecretPrefix}-${node.name}` };
}

async function enroll(secrets: SecretStore, names: Record<EnrollmentPart, string>, posted: StepEnrollment, node: string, context: InvocationContext): Promise<HttpResponseInit> {
  const plan = planEnrollment(posted, await storedNow(secrets, names), new Date());
  if (plan.kind === 'conflict') {
    const which = plan.differs.map((part) => names[part]);
    context.warn(JSON.stringify({ event: 'step-enrollment.conflict', node, differs: which }));
    // A VM that kept its key re-enrolls a new certificate alone (the stored key binds the call); a rebuilt one needs both revoked.
    const revoke = plan.differs.includes('stepKey') ? `a new version of both (az keyvault secret set --name ${names.stepKey} --value revoked, the same for ${names.certificate}; a rebuilt VM)` : `a new version of ${names.certificate} alone (az keyvault secret set --name ${names.certificate} --value revoked: the node's stored key still binds the enrollment)`;
    return problemResponse({
      status: 409,
      title: 'Another certificate or step key is enrolled for this node',
      detail: `Key Vault holds another usable value in ${which.join(' and ')}: an enrollment is never replaced by a call. To enroll this node anew, an operator stores a value that is no ${plan.differs.includes('stepKey') ? 'key or certificate' : 'certificate'} as ${revoke}, then restarts pg-failover-step-enrollment on the VM`,
      differs: which,
    });
  }
  for (const part of plan.missing) await secrets.set(names[part], part === 'stepKey' ? posted.stepKey.trim() : posted.certificate);
  // Key Vault writes unconditionally: a call racing this one may have stored its own values in between.
  const raced = planEnrollment(posted, await storedNow(secrets, names), new Date());
  if (raced.kind !== 'store' || raced.missing.length) {
    context.warn(JSON.stringify({ event: 'step-enrollment.raced', node }));
    return problemResponse({
      status: 409,
      title: 'Another enrollment of this node ran at the same time',
      detail: `Key Vault does not hold what this call stored in ${names.stepKey} and ${names.certificate}: another call for this node stored its own values in between. Only one process on the VM should enroll; an operator checks the node and enrolls it anew`,
    });
  }
  context.log(JSON.stringify({ event: 'step-enrollment.done', node, stored: plan.missing.map((part) => names[part]) }));
  return json(plan.missing.length ? 201 : 200, { node, outcome: plan.missing.length ? 'enrolled' : 'unchanged', stored: plan.missing.map((part) => names[part]) });
}

/** The node's two secrets as Key Vault holds them now (not as cached: an operator may just have revoked them). */
async function storedNow(secrets: SecretStore, names: Record<EnrollmentPart, string>): Promise<Partial<StepEnrollment>> {
  const [stepKey, certificate] = await Promise.all([storedValue(secrets, names.stepKey), storedValue(secrets, names.certificate)]);
  return { stepKey, certificate };
}

/** The secret as Key Vault holds it now, undefined when there is none. */
async function storedValue(secrets: SecretStore, name: string): Promise<string | undefined> {
  try {
    return (await secrets.get(name, { maxAgeMs: 0 })).reveal();
  } catch (error) {
    if (error instanceof SecretNotFoundError) return undefined;
    throw error;
  }
}

app.http('stepEnrollment', {
  route: 'clusters/{cluster}/nodes/{node}/step-enrollment',
  methods: ['POST'],
  // Only the node's own VM, by its managed identity token (src/app/node-auth.ts), as the other node routes.
  authLevel: 'anonymous',
  handler: stepEnrollmentHandler,
});
