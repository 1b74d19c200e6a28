import { registerActivity } from './catalogue';
import { clusterServices } from '../src/app/services';
import { withClient } from '../src/adapters/postgres/connect';
import { readWalPositions } from '../src/adapters/postgres/operations';

registerActivity('readWalPositions', async ({ cluster, node }) => {
  const services = clusterServices(cluster);
  return withClient(await services.adminEndpoint(node), readWalPositions);
});
