import { readSystemIdentifier } from '../adapters/postgres/inspect';
import { identityRefusal } from '../domain/cluster-identity';
import { StaleDecisionError } from '../domain/errors';
import { clusterServices } from './services';

/** What an activity that acts on nodes names: the node it acts on, and the primary it points it at. */
export interface ActingOn {
  cluster: string;
  node?: string;
  primary?: string | null;
  input?: { primary?: string };
  /** The system identifier the operation pinned at its first look (src/domain/cluster-identity.ts). */
  identity?: string | null;
}

/**
 * Before an activity acts: every node it names that answers over SQL still holds the database
 * cluster the operation began on (docs/invariants.md S9). One short query per node, no ARM call, so
 * it stays cheap on the write path. A node that does not answer is left to the step itself (a Run
 * Command on a stopped server; pg_rewind and streaming replication refuse a foreign system anyway).
 */
export async function confirmIdentity(step: string, acting: ActingOn): Promise<void> {
  const { cluster, identity } = acting;
  if (!identity) return;
  const services = clusterServices(cluster);
  const timeout = services.config.policy.health.probeTimeoutMs;
  const named = [...new Set([acting.node, acting.primary, acting.input?.primary].filter((n): n is string => !!n))];
  await Promise.all(
    named.map(async (node) => {
      const seen = await readSystemIdentifier(await services.adminEndpoint(node), { connectTimeoutMs: timeout, statementTimeoutMs: timeout });
      const refusal = identityRefusal(node, seen, identity);
      if (refusal) throw new StaleDecisionError(refusal, { cluster, node, step });
    }),
  );
}
