import { labSelfSignedStepsCertificate, labStepKey, NODE_AGENT_PORT, NODE_STEPS_PORT } from '../lab/node-agents';
import { parseConfig } from '../../src/config/load';
import { FailoverConfig } from '../../src/config/schema';
import { Lab } from '../lab/lab';
import { labOsOwner } from '../lab/os-owner';

export const LAB_CLUSTER = 'lab';
export const LAB_SECRETS = { admin: 'pg-admin-password', replication: 'pg-replication-password', ca: 'pg-tls-ca', stepKeyPrefix: 'pg-step-key', stepCertificatePrefix: 'pg-step-cert' } as const;
const LAB_SUBSCRIPTION = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/pg-lab/providers';

/**
 * The configuration an operator would write for the lab as if it ran on Azure: each lab node is a
 * "VM" whose files live under the lab's state directory (node overrides), managed with pg_ctl.
 */
/** `probe`: the lab's load balancer follows the node agents' probes (membership "probe"); `pools`: the app moves NICs between pools. */
export type LabLoadBalancing = 'pools' | 'probe';
/**
 * How the app trusts the agents' steps endpoints: certificates from the lab's CA, or each node's
 * self-signed one pinned in Key Vault, put there with the step keys before the app starts
 * ('pinned') or by each agent's enrollment (agent/step-enrollment.sh) through the app ('enrolled').
 */
export type LabAgentTrust = 'ca' | 'pinned' | 'enrolled';

export function labClusterConfig(lab: Lab, policy: Record<string, unknown> = {}, balancing: LabLoadBalancing = 'pools', agentSteps = true, agentTrust: LabAgentTrust = 'ca'): FailoverConfig {
  return parseConfig(
    {
      clusters: [
        {
          name: LAB_CLUSTER,
          nodes: lab.layout.nodes.map((node) => ({
            name: node.name,
            vmResourceId: `${LAB_SUBSCRIPTION}/Microsoft.Compute/virtualMachines/${node.name}`,
            nicResourceId: `${LAB_SUBSCRIPTION}/Microsoft.Network/networkInterfaces/${node.name}-nic`,
            host: node.host,
            port: node.port,
            overrides: { dataDirectory: node.dataDir, socketDirectory: node.socketDir, passFile: node.passFile, logFile: node.logFile },
          })),
          loadBalancer: {
            resourceId: `${LAB_SUBSCRIPTION}/Microsoft.Network/loadBalancers/pg-lab-ilb`,
            writePool: 'pg-write',
            readPool: 'pg-read',
            ...(balancing === 'probe' ? { membership: 'probe', agentPort: NODE_AGENT_PORT } : { membership: 'nic' }),
          },
          postgres: {
            adminUser: lab.manifest.credentials.admin.user,
            adminPasswordSecret: LAB_SECRETS.admin,
            replicationUser: lab.manifest.credentials.replication.user,
            replicationPasswordSecret: LAB_SECRETS.replication,
            sslRootCertSecret: LAB_SECRETS.ca,
            applicationRoles: [lab.manifest.credentials.app.user],
            binDirectory: lab.manifest.binDir,
            control: 'pg_ctl',
            osUser: labOsOwner().user,
          },
          policy: { pollIntervalMs: 200, ...policy },
          // The agents run in probe mode: their node steps go first, Run Command when they do not answer.
          ...(balancing === 'probe' && agentSteps
            ? { nodeAgent: { stepsPort: NODE_STEPS_PORT, stepKeySecretPrefix: LAB_SECRETS.stepKeyPrefix, ...(agentTrust !== 'ca' ? { certificateSecretPrefix: LAB_SECRETS.stepCertificatePrefix } : {}) } }
            : {}),
        },
      ],
    },
    'the lab',
  );
}

/** The Key Vault contents of the lab's cluster: without the nodes' step keys and certificates when the agents enroll them. */
export function labSecrets(lab: Lab, agentTrust: LabAgentTrust = 'ca'): Record<string, string> {
  return {
    [LAB_SECRETS.admin]: lab.manifest.credentials.admin.password,
    [LAB_SECRETS.replication]: lab.manifest.credentials.replication.password,
    [LAB_SECRETS.ca]: lab.caCertificate(),
    ...(agentTrust === 'enrolled'
      ? {}
      : {
          ...Object.fromEntries(lab.layout.nodes.map((node) => [`${LAB_SECRETS.stepKeyPrefix}-${node.name}`, labStepKey(node)])),
          ...Object.fromEntries(lab.layout.nodes.map((node) => [`${LAB_SECRETS.stepCertificatePrefix}-${node.name}`, labSelfSignedStepsCertificate(node)])),
        }),
  };
}
