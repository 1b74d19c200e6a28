import type { ClusterConfig, NodeAgentConfig } from '../../config/schema';
import { silentLog } from '../../ports/log';
import { AgentFirstVmCommands } from '../agent/agent-first-vm-commands';
import type { Fencing } from '../../ports/fencing';
import type { LoadBalancerPools } from '../../ports/load-balancer';
import type { SecretStore } from '../../ports/secrets';
import type { VmCommands } from '../../ports/vm-commands';
import { type AzureClients, createAzureClients } from './clients';
import { AzureFencing } from './fencing';
import { KeyVaultSecretStore } from './key-vault-secrets';
import { AzureLoadBalancerPools } from './load-balancer';
import type { AzureAdapterOptions } from './options';
import { readAzureSettings } from './settings';
import { AzureVmCommands } from './vm-commands';

export interface AzurePorts {
  vmCommands: VmCommands;
  loadBalancer: LoadBalancerPools;
  secrets: SecretStore;
  fencing: Fencing;
}

/**
 * Every Azure-backed port for one cluster. Key Vault is touched only when a secret is first read.
 * `pools` replaces the load balancer's ARM pools when the cluster's writer is picked by health
 * probes instead (probe mode: src/adapters/agent/probe-pools.ts).
 */
export function createAzurePorts(clients: AzureClients, cluster: ClusterConfig, options: AzureAdapterOptions = {}, pools?: LoadBalancerPools): AzurePorts {
  const withCluster = { pollIntervalMs: clients.settings.pollIntervalMs, ...options, cluster: cluster.name };
  let secretStore: KeyVaultSecretStore | undefined;
  const store = () => (secretStore ??= new KeyVaultSecretStore(clients.secrets(), withCluster));
  const secrets: SecretStore = { get: (name, options) => store().get(name, options), set: (name, value) => store().set(name, value) };
  const runCommand = new AzureVmCommands(clients, withCluster);
  return {
    vmCommands: cluster.nodeAgent ? agentFirst(runCommand, cluster, cluster.nodeAgent, secrets, options) : runCommand,
    loadBalancer: pools ?? new AzureLoadBalancerPools(clients, cluster.loadBalancer, cluster.nodes, withCluster),
    secrets,
    fencing: new AzureFencing(clients, withCluster),
  };
}

function agentFirst(runCommand: VmCommands, cluster: ClusterConfig, nodeAgent: NodeAgentConfig, secrets: SecretStore, options: AzureAdapterOptions): VmCommands {
  const { certificateSecretPrefix } = nodeAgent;
  const caSecret = cluster.postgres.sslRootCertSecret as string; // the schema requires it with nodeAgent unless the certificates are pinned
  return new AgentFirstVmCommands(runCommand, {
    cluster: cluster.name,
    nodes: cluster.nodes,
    port: nodeAgent.stepsPort,
    keyOf: (node) => secrets.get(`${nodeAgent.stepKeySecretPrefix}-${node}`),
    trustOf: async (node) => (certificateSecretPrefix ? { pinned: (await secrets.get(`${certificateSecretPrefix}-${node}`)).reveal() } : { ca: (await secrets.get(caSecret)).reveal() }),
    log: options.log ?? silentLog,
  });
}

/** Production wiring: settings from the environment, clients, ports. */
export function createAzurePortsFromEnvironment(cluster: ClusterConfig, env: NodeJS.ProcessEnv = process.env, options: AzureAdapterOptions = {}): AzurePorts {
  return createAzurePorts(createAzureClients(readAzureSettings(env)), cluster, options);
}

export { createAzureClients, type AzureClients } from './clients';
export { readAzureSettings, type AzureSettings, AZURE_SETTING_NAMES } from './settings';
export type { AzureAdapterOptions } from './options';
