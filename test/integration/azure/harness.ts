import { type ClusterConfig, ClusterSchema } from '../../../src/config/schema';
import { createAzureClients, type AzureClients } from '../../../src/adapters/azure/clients';
import type { AzureAdapterOptions } from '../../../src/adapters/azure/options';
import { readAzureSettings } from '../../../src/adapters/azure/settings';
import { type AzureEmulator, type AzureEmulatorOptions, startAzureEmulator, worldFromCluster } from '../../../harness/local/azure-emulator';

export const SUBSCRIPTION = '00000000-0000-0000-0000-00000000c0de';
const RG = `/subscriptions/${SUBSCRIPTION}/resourceGroups/pg-rg/providers`;

export const ADMIN_PASSWORD = 'S3cret-admin-Pa55word-4711';
export const REPLICATION_PASSWORD = 'S3cret-repl-Pa55word-0815';

/** A three-node cluster as the app's configuration describes it; `membership` picks NIC- or IP-based pools. */
export function testCluster(membership: 'nic' | 'ip', name = 'orders'): ClusterConfig {
  return ClusterSchema.parse({
    name,
    nodes: ['pg1', 'pg2', 'pg3'].map((node, index) => ({
      name: node,
      vmResourceId: `${RG}/Microsoft.Compute/virtualMachines/${node}`,
      nicResourceId: `${RG}/Microsoft.Network/networkInterfaces/${node}-nic`,
      host: `10.0.1.${11 + index}`,
    })),
    loadBalancer: {
      resourceId: `${RG}/Microsoft.Network/loadBalancers/pg-ilb`,
      writePool: 'pg-write',
      readPool: 'pg-read',
      membership,
      ...(membership === 'ip' ? { virtualNetworkId: `${RG}/Microsoft.Network/virtualNetworks/pg-vnet` } : {}),
    },
    postgres: { adminPasswordSecret: 'pg-admin-password', replicationPasswordSecret: 'pg-replication-password', sslRootCertSecret: 'pg-tls-ca' },
  });
}

export interface Harness {
  emulator: AzureEmulator;
  clients: AzureClients;
  cluster: ClusterConfig;
  /** Adapter options for tests: fast polling and short backoffs, so nothing waits on a wall clock longer than needed. */
  options: AzureAdapterOptions;
}

/**
 * Starts the emulator for `cluster` and builds the SDK clients exactly as production does, from
 * the same settings names — only their values point at the emulator.
 */
export async function startHarness(cluster: ClusterConfig, emulatorOptions: Partial<AzureEmulatorOptions> = {}, roles: Record<string, 'write' | 'read' | 'none'> = {}): Promise<Harness> {
  const emulator = await startAzureEmulator({
    world: worldFromCluster(cluster, { secrets: { 'pg-admin-password': ADMIN_PASSWORD, 'pg-replication-password': REPLICATION_PASSWORD }, roles }),
    latency: 'zero',
    ...emulatorOptions,
  });
  const settings = readAzureSettings({
    ARM_ENDPOINT: emulator.endpoint,
    KEY_VAULT_URL: emulator.keyVaultUrl,
    PG_FAILOVER_LOCAL_CA_FILE: emulator.caFile,
    PG_FAILOVER_AZURE_POLL_INTERVAL_MS: '5',
  });
  return {
    emulator,
    clients: createAzureClients(settings),
    cluster,
    options: {
      cluster: cluster.name,
      pollIntervalMs: 5,
      busyRetry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000 },
      conflictRetry: { baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000 },
    },
  };
}

/** Waits for a condition by polling it (never a fixed sleep); fails with `what` after a generous limit. */
export async function waitFor(what: string, condition: () => boolean, limitMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise the test resolves by hand: lets a guest script stay "running" exactly as long as a test needs. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
