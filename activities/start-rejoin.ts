import { registerClientActivity } from './durable-client-activity';
import { clusterConfig } from '../src/app/services';
import { startRejoin } from '../src/functions/health-check-client';

/** Starts the rejoin of a returning former primary as its own orchestration, so the monitor goes on watching meanwhile. */
registerClientActivity('startRejoin', async ({ cluster, node, primary, reason }, client) => startRejoin(client, { cluster: clusterConfig(cluster), node, primary, reason }));
