import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { runVmScript } from '../src/app/vm-scripts';
import { promote } from '../src/vm-scripts/catalogue';
import { withClient } from '../src/adapters/postgres/connect';
import { promoteWithSql } from '../src/adapters/postgres/operations';

/** Promotion over Run Command (the VM's own pg_ctl promote), or the faster SQL path pg_promote(). */
registerActivity('promoteStandby', async ({ cluster, node, method }) => {
  const services = clusterServices(cluster);
  if (method === 'sql') {
    return withClient(await services.adminEndpoint(node), (client) => promoteWithSql(client, node), { connectTimeoutMs: 5000, statementTimeoutMs: 65_000 });
  }
  const promoted = await runVmScript(services, node, promote(services.config, services.node(node)));
  return { timeline: promoted.timeline, lsn: promoted.currentLsn, alreadyPrimary: promoted.alreadyPrimary };
});
