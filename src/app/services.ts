import { loadConfigFromEnvironment } from '../config/load';
import { ClusterConfig, FailoverConfig, NodeConfig } from '../config/schema';
import { InvalidInputError, NodeAuthenticationError } from '../domain/errors';
import { createAzureClients, readAzureSettings, AzureClients } from '../adapters/azure';
import { createAzurePorts, AzurePorts } from '../adapters/azure';
import { createEntraTokenVerifier } from '../adapters/azure/entra-tokens';
import { createVmPrincipalLookup } from '../adapters/azure/vm-identity';
import type { NodeAuthentication } from './node-auth';
import { ProbePools } from '../adapters/agent/probe-pools';
import { PgEndpoint } from '../adapters/postgres/connect';

/** A cluster name or node name the request named does not exist (HTTP 404). */
export class UnknownResourceError extends InvalidInputError {}

/** Everything an activity needs for one cluster: its configuration and its Azure-backed ports. */
export interface ClusterServices extends AzurePorts {
  config: ClusterConfig;
  node(name: string): NodeConfig;
  /** The admin connection to one node; the password comes from Key Vault. */
  adminEndpoint(node: string): Promise<PgEndpoint>;
}

let configuration: FailoverConfig | undefined;
let clients: AzureClients | undefined;
let nodeAuth: NodeAuthentication | undefined;
const perCluster = new Map<string, ClusterServices>();

/** The clusters this app manages, read once per process from the app settings. */
export function appConfig(): FailoverConfig {
  configuration ??= loadConfigFromEnvironment();
  return configuration;
}

export function clusterConfig(name: string): ClusterConfig {
  const cluster = appConfig().clusters.find((c) => c.name === name);
  // The answer does not list the configured names: node agents call these routes too.
  if (!cluster) throw new UnknownResourceError(`no cluster named "${name}" in this app's configuration: check the name in the URL`, { cluster: name });
  return cluster;
}

export function nodeConfig(cluster: ClusterConfig, name: string): NodeConfig {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) throw new UnknownResourceError(`cluster ${cluster.name} has no node "${name}" in this app's configuration: check the node name`, { cluster: cluster.name, node: name });
  return node;
}

/** The cluster and node a node route's URL names (404 for an unknown one). */
export function locateNode(request: { params: Record<string, string> }): { cluster: ClusterConfig; node: NodeConfig } {
  const cluster = clusterConfig(request.params.cluster);
  return { cluster, node: nodeConfig(cluster, request.params.node) };
}

export function clusterServices(name: string): ClusterServices {
  const existing = perCluster.get(name);
  if (existing) return existing;
  const config = clusterConfig(name);
  const probePools =
    config.loadBalancer.membership === 'probe'
      ? new ProbePools({
          nodes: config.nodes,
          agentPort: config.loadBalancer.agentPort,
          leaseTtlSeconds: config.policy.leaseTtlSeconds,
          probeTimeoutMs: config.policy.health.probeTimeoutMs,
          adminEndpoint: (node) => services.adminEndpoint(node),
        })
      : undefined;
  const ports = createAzurePorts(azureClients(), config, {}, probePools);
  const services: ClusterServices = {
    ...ports,
    config,
    node: (node) => nodeConfig(config, node),
    async adminEndpoint(nodeName) {
      const node = nodeConfig(config, nodeName);
      const password = await ports.secrets.get(config.postgres.adminPasswordSecret);
      const rootCert = config.postgres.sslRootCertSecret ? await ports.secrets.get(config.postgres.sslRootCertSecret) : undefined;
      return {
        host: node.host,
        port: node.port,
        user: config.postgres.adminUser,
        password: password.reveal(),
        database: config.postgres.database,
        sslMode: config.postgres.sslMode,
        ...(rootCert ? { sslRootCert: rootCert.reveal() } : {}),
      };
    },
  };
  perCluster.set(name, services);
  return services;
}

function azureClients(): AzureClients {
  clients ??= createAzureClients(readAzureSettings());
  return clients;
}

/** The check of the node routes' callers (src/app/node-auth.ts), built once per process from the app settings. */
export function nodeAuthentication(): NodeAuthentication {
  if (nodeAuth) return nodeAuth;
  const { settings } = azureClients();
  if (!settings.nodeAuthAudience || !settings.nodeAuthTenantId) {
    throw new NodeAuthenticationError(
      'the app cannot check who calls the node routes: its NODE_AUTH_AUDIENCE and NODE_AUTH_TENANT_ID settings are not both set (the Bicep deployment sets them from its nodeAuthAudience parameter)',
      503,
    );
  }
  nodeAuth = { verify: createEntraTokenVerifier(settings, settings.nodeAuthAudience, settings.nodeAuthTenantId), principalOf: createVmPrincipalLookup(azureClients()) };
  return nodeAuth;
}

/** Forget what was read from the settings (the local runtime re-reads them when it is reconfigured). */
export function resetServices(): void {
  configuration = undefined;
  clients = undefined;
  nodeAuth = undefined;
  perCluster.clear();
}
