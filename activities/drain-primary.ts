import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { withClient } from '../src/adapters/postgres/connect';
import { drainApplicationSessions } from '../src/adapters/postgres/operations';

registerActivity('drainPrimary', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  const roles = services.config.postgres.applicationRoles;
  const { endedSessions } = await withClient(await services.adminEndpoint(node), (client) => drainApplicationSessions(client, node, roles));
  return { pausedRoles: roles, endedSessions };
});
