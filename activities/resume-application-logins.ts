import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { withClient } from '../src/adapters/postgres/connect';
import { resumeLogins } from '../src/adapters/postgres/operations';

registerActivity('resumeApplicationLogins', async ({ cluster, node, roles }) => {
  const services = clusterServices(cluster);
  await withClient(await services.adminEndpoint(node), (client) => resumeLogins(client, node, roles));
  return { resumedRoles: roles };
});
