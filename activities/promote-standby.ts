import { registerActivity } from './catalogue';
import { clusterServices, ClusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { promote } from '../src/vm-scripts/catalogue';
import { withClient } from '../src/adapters/postgres/connect';
import { promoteWithSql } from '../src/adapters/postgres/operations';
import { FailoverError } from '../src/domain/errors';

async function promoteOverRunCommand(services: ClusterServices, node: string) {
  const promoted = await runVmScript(services, node, promote(services.config, services.node(node)));
  return { timeline: promoted.timeline, lsn: promoted.currentLsn, alreadyPrimary: promoted.alreadyPrimary };
}

/**
 * Promotion with pg_promote() over SQL (milliseconds), or over Run Command (the VM's own
 * pg_ctl promote; about 20 s on Azure). The SQL path falls back to Run Command when the node
 * cannot be reached over SQL; both are idempotent, so a node already promoted is simply reported.
 */
registerActivity('promoteStandby', async ({ cluster, node, method }) => {
  const services = clusterServices(cluster);
  if (method === 'runCommand') return promoteOverRunCommand(services, node);
  try {
    return await withClient(await services.adminEndpoint(node), (client) => promoteWithSql(client, node), { connectTimeoutMs: 5000, statementTimeoutMs: 65_000 });
  } catch (sqlError) {
    try {
      return await promoteOverRunCommand(services, node);
    } catch (runCommandError) {
      throw new FailoverError(`promoting ${node} failed over SQL (${(sqlError as Error).message}) and over Run Command (${(runCommandError as Error).message})`, { cluster, node, step: 'promote' });
    }
  }
});
