import { z } from 'zod';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const nameField = (what: string) =>
  z.string().regex(NAME, `${what} must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit`);

const armId = (provider: string, type: string) =>
  z
    .string()
    .regex(
      new RegExp(`^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/${provider}/${type}/[^/]+$`, 'i'),
      `expected an Azure resource id like /subscriptions/<id>/resourceGroups/<rg>/providers/${provider}/${type}/<name>`,
    );

const port = z.int('port must be a whole number').min(1, 'port must be 1-65535').max(65535, 'port must be 1-65535');
const positiveInt = (what: string) => z.int(`${what} must be a whole number`).positive(`${what} must be greater than 0`);
const nonNegativeInt = (what: string) => z.int(`${what} must be a whole number`).nonnegative(`${what} must be 0 or more`);
const absolutePath = (what: string) => z.string().startsWith('/', `${what} must be an absolute path`);
const roleName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a plain PostgreSQL role name (letters, digits, _ or $)');
const secretName = z.string().regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a Key Vault secret name (1-127 letters, digits or -)');

export const NodeSchema = z.strictObject({
  name: nameField('node name'),
  vmResourceId: armId('Microsoft.Compute', 'virtualMachines'),
  host: z.string().min(1, 'host must be the private IP address or DNS name PostgreSQL listens on'),
  port: port.default(5432),
  /** Higher wins when candidates are equally current. */
  priority: nonNegativeInt('priority').default(100),
  /** Never promoted (e.g. a reporting replica in another region). */
  noFailover: z.boolean().default(false),
  /** NIC-based pools only: the NIC and IP configuration that carry this node's pool membership. */
  nicResourceId: armId('Microsoft.Network', 'networkInterfaces').optional(),
  ipConfigurationName: z.string().min(1).default('ipconfig1'),
  /** Where this node's files differ from the cluster's postgres settings (same field names). */
  overrides: z
    .strictObject({
      dataDirectory: absolutePath('dataDirectory').optional(),
      socketDirectory: absolutePath('socketDirectory').optional(),
      passFile: absolutePath('passFile').optional(),
      logFile: absolutePath('logFile').optional(),
    })
    .default({}),
});

export const LoadBalancerSchema = z.strictObject({
  resourceId: armId('Microsoft.Network', 'loadBalancers'),
  writePool: z.string().min(1, 'writePool must name the backend pool behind the write frontend'),
  readPool: z.string().min(1, 'readPool must name the backend pool behind the read frontend'),
  /**
   * "nic"/"ip": the app moves nodes between the pools through ARM. "probe": every node stays in both
   * pools and the load balancer's HTTP probes, answered by each node's agent, pick the writer by
   * the write lease (docs/design.md §9): no ARM call when the primary changes.
   */
  membership: z.enum(['nic', 'ip', 'probe'], 'membership must be "nic" (NIC-based pools), "ip" (IP-based pools) or "probe" (health probes answered by the node agents)'),
  /** IP-based pools only: the virtual network the addresses live in. */
  virtualNetworkId: armId('Microsoft.Network', 'virtualNetworks').optional(),
  /** Probe mode: the port of each node's agent (its /primary and /replica probes), on the node's host. */
  agentPort: port.default(8432),
});

export const PostgresSchema = z.strictObject({
  database: z.string().min(1).default('postgres'),
  adminUser: roleName.default('postgres'),
  adminPasswordSecret: secretName,
  replicationUser: roleName.default('replicator'),
  replicationPasswordSecret: secretName,
  /** Roles whose sessions are ended and whose logins are paused while the primary is drained. */
  applicationRoles: z.array(roleName).default([]),
  dataDirectory: absolutePath('dataDirectory').default('/var/lib/postgresql/15/main'),
  binDirectory: absolutePath('binDirectory').default('/usr/lib/postgresql/15/bin'),
  /** How the VM scripts start and stop the server: its systemd unit, or pg_ctl on the data directory. */
  control: z.enum(['systemd', 'pg_ctl'], 'control must be "systemd" or "pg_ctl"').default('systemd'),
  serviceName: z.string().min(1).default('postgresql@15-main'),
  /** The OS account that owns the data directory and runs the server. */
  osUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name').default('postgres'),
  socketDirectory: absolutePath('socketDirectory').default('/var/run/postgresql'),
  /** Where the VM scripts keep the replication password (0600, owned by osUser). */
  passFile: absolutePath('passFile').default('/var/lib/postgresql/.pgpass-failover'),
  /** pg_ctl control only: the server log. */
  logFile: absolutePath('logFile').optional(),
  /**
   * TLS from the app to each node (libpq's names). verify-full by default: encrypted, the server's
   * certificate checked against the CA and the node's host. "disable" must be chosen explicitly;
   * "prefer" is not offered (the driver cannot fall back, so it would mean plaintext).
   */
  sslMode: z
    .enum(['disable', 'require', 'verify-ca', 'verify-full'], 'sslMode must be "verify-full" (the default), "verify-ca", "require" (TLS without checking the server) or "disable" (plaintext)')
    .default('verify-full'),
  /** Key Vault secret holding the PEM CA bundle; required for verify-ca and verify-full. */
  sslRootCertSecret: secretName.optional(),
});

/**
 * The node steps on each node's agent (agent/node_agent/steps.py): the VM scripts run there over
 * HTTPS first, through Run Command when the agent does not take them. Each node has its own key.
 */
export const NodeAgentSchema = z.strictObject({
  /** The agents' HTTPS port for the steps (PGFO_STEPS_LISTEN on each node). */
  stepsPort: port.default(8433),
  /** Node N's step key is the Key Vault secret `<stepKeySecretPrefix>-<N>` (base64 of at least 32 random bytes). */
  stepKeySecretPrefix: z.string().regex(/^[0-9A-Za-z-]{1,60}$/, 'must be the start of Key Vault secret names (1-60 letters, digits or -)'),
  /**
   * Node N's agent is trusted by its own certificate, pinned: the Key Vault secret
   * `<certificateSecretPrefix>-<N>` holds the PEM of the self-signed certificate it serves its steps
   * with, and the app accepts exactly that one. Without it the agents' certificates must be signed
   * by postgres.sslRootCertSecret's CA.
   */
  certificateSecretPrefix: z.string().regex(/^[0-9A-Za-z-]{1,60}$/, 'must be the start of Key Vault secret names (1-60 letters, digits or -)').optional(),
});

export const HealthPolicySchema = z.strictObject({
  probeTimeoutMs: positiveInt('probeTimeoutMs').default(3000),
  /** Consecutive failed checks before the primary may be declared dead. */
  failureThreshold: positiveInt('failureThreshold').default(2),
  /**
   * The primary must have been failing for at least this long as well (S6, docs/invariants.md).
   * With the default schedule (every 5 s): a dead primary is declared so 10-15 s after it died.
   */
  graceSeconds: nonNegativeInt('graceSeconds').default(10),
});

export const PolicySchema = z.strictObject({
  /** A switchover candidate further behind than this is refused before anything changes. */
  maxLagBytesForSwitchover: nonNegativeInt('maxLagBytesForSwitchover').default(16 * 1024 * 1024),
  /** S7 (docs/invariants.md): an unplanned failover never loses more than this unless the operator accepts loss. */
  maxLagBytesForFailover: nonNegativeInt('maxLagBytesForFailover').default(1024 * 1024),
  catchupTimeoutSeconds: positiveInt('catchupTimeoutSeconds').default(60),
  /** How often a waiting orchestration looks again (a durable timer between looks). */
  pollIntervalMs: positiveInt('pollIntervalMs').default(1000),
  switchoverTimeoutSeconds: positiveInt('switchoverTimeoutSeconds').default(600),
  /** "sql": pg_promote() over SQL (falls back to Run Command when SQL cannot reach the node); "runCommand": always over Run Command. */
  promoteMethod: z.enum(['runCommand', 'sql'], 'promoteMethod must be "runCommand" or "sql"').default('sql'),
  autoFailover: z.boolean().default(true),
  /**
   * Fence an unreachable old primary by powering its VM off through ARM (STONITH) before a
   * failover promotes. Without it a failover proceeds only when PostgreSQL on the old primary is
   * verifiably stopped, so a dead or frozen VM is never failed over automatically.
   */
  fenceByPowerOff: z.boolean().default(true),
  /**
   * Probe mode: how long a write lease lasts without renewal (each health check renews it). A
   * failover of a primary that cannot be asked promotes no earlier than its last renewal + ttl +
   * margin, which sets when a vanished primary is failed over (README, "Benchmarks"). A lapse
   * with a standby down fences the primary. Each check renews it (to the check's start + ttl)
   * after its probes (up to probeTimeoutMs) and a short lease session; the power-state reads never
   * lengthen a check (src/app/power-state-reads.ts). With checks every 5 s, 15 s outlasts one lost
   * renewal as long as the checks end within their slots (2 × 5 s + 3 s probes + the session);
   * a renewal that fails only after running into the next slot (a primary stalled for seconds)
   * loses that slot too: raise it where primaries may stall so long.
   */
  leaseTtlSeconds: positiveInt('leaseTtlSeconds').default(15),
  /**
   * Probe mode: how long past the lease a failover still waits before it promotes, for the old
   * primary's agent to fence it (it looks once a second by default) and for the clocks of the app
   * and the node to differ (docs/design.md §9).
   */
  leaseWaitMarginSeconds: nonNegativeInt('leaseWaitMarginSeconds').default(5),
  health: HealthPolicySchema.default(HealthPolicySchema.parse({})),
});

/**
 * Nodes per cluster. The cluster monitor's state (src/domain/health.ts), published as a custom status
 * that must stay under 16 KB, keeps one pending-rejoin entry per node: this bounds it.
 */
export const MAX_NODES = 16;

export const ClusterSchema = z
  .strictObject({
    name: nameField('cluster name'),
    nodes: z
      .array(NodeSchema)
      .min(2, 'a cluster needs at least 2 nodes (one primary and one standby)')
      .max(MAX_NODES, `a cluster has at most ${MAX_NODES} nodes (the health monitor's state, published as a 16 KB custom status, holds one entry per node)`),
    loadBalancer: LoadBalancerSchema,
    postgres: PostgresSchema,
    policy: PolicySchema.default(PolicySchema.parse({})),
    nodeAgent: NodeAgentSchema.optional(),
  })
  .superRefine((cluster, ctx) => {
    const seenNames = new Map<string, number>();
    const seenEndpoints = new Map<string, number>();
    cluster.nodes.forEach((node, index) => {
      const sameName = seenNames.get(node.name);
      if (sameName !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', index, 'name'], message: `duplicate node name "${node.name}" (also nodes[${sameName}]); node names must be unique` });
      } else seenNames.set(node.name, index);
      const endpoint = `${node.host}:${node.port}`;
      const sameEndpoint = seenEndpoints.get(endpoint);
      if (sameEndpoint !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', index, 'host'], message: `${endpoint} is also nodes[${sameEndpoint}]; every node needs its own host and port` });
      } else seenEndpoints.set(endpoint, index);
      if (cluster.loadBalancer.membership === 'nic' && !node.nicResourceId) {
        ctx.addIssue({ code: 'custom', path: ['nodes', index, 'nicResourceId'], message: 'required when loadBalancer.membership is "nic": the NIC whose IP configuration joins the pools' });
      }
    });
    if (cluster.nodes.length >= 2 && cluster.nodes.every((node) => node.noFailover)) {
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'every node has noFailover: true, so no standby could ever be promoted; clear it on at least one node' });
    }
    if (cluster.loadBalancer.membership === 'ip' && !cluster.loadBalancer.virtualNetworkId) {
      ctx.addIssue({ code: 'custom', path: ['loadBalancer', 'virtualNetworkId'], message: 'required when loadBalancer.membership is "ip": the virtual network of the backend addresses' });
    }
    if (cluster.loadBalancer.writePool === cluster.loadBalancer.readPool) {
      ctx.addIssue({ code: 'custom', path: ['loadBalancer', 'readPool'], message: 'readPool must differ from writePool, or standbys would receive writes' });
    }
    if ((cluster.postgres.sslMode === 'verify-ca' || cluster.postgres.sslMode === 'verify-full') && !cluster.postgres.sslRootCertSecret) {
      ctx.addIssue({
        code: 'custom',
        path: ['postgres', 'sslRootCertSecret'],
        message: `required when sslMode is ${cluster.postgres.sslMode}${cluster.postgres.sslMode === 'verify-full' ? ' (the default)' : ''}: the Key Vault secret holding the CA certificate (PEM) that signed the nodes' server certificates; or set sslMode to "require" (TLS without checking the server) or "disable" (plaintext)`,
      });
    }
    if (cluster.nodeAgent && !cluster.nodeAgent.certificateSecretPrefix && !cluster.postgres.sslRootCertSecret) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodeAgent'],
        message:
          "needs a way to trust the agents: postgres.sslRootCertSecret (each agent serves its steps with a certificate from that CA) or nodeAgent.certificateSecretPrefix (each agent's self-signed certificate pinned in Key Vault); set one, or remove nodeAgent (every step then goes through Run Command)",
      });
    }
  });

export const ConfigSchema = z
  .strictObject({
    clusters: z.array(ClusterSchema).min(1, 'list at least one cluster'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clusters.forEach((cluster, index) => {
      if (seen.has(cluster.name)) {
        ctx.addIssue({ code: 'custom', path: ['clusters', index, 'name'], message: `duplicate cluster name "${cluster.name}"; cluster names must be unique` });
      }
      seen.add(cluster.name);
    });
    checkSecretNamesApart(config.clusters, ctx);
  });

/**
 * Every cluster shares the app's one vault: a node's step key and pinned certificate
 * (`<prefix>-<node>`) must each have a secret of their own, apart from every other node's and from
 * the passwords and CA, or one node's agent could enroll into another's (src/domain/step-enrollment.ts).
 */
function checkSecretNamesApart(clusters: readonly z.infer<typeof ClusterSchema>[], ctx: z.RefinementCtx): void {
  const owners = new Map<string, string>();
  clusters.forEach((cluster) => {
    const { adminPasswordSecret, replicationPasswordSecret, sslRootCertSecret } = cluster.postgres;
    for (const name of [adminPasswordSecret, replicationPasswordSecret, sslRootCertSecret]) if (name) owners.set(name.toLowerCase(), `a password or CA secret of cluster ${cluster.name}`);
  });
  clusters.forEach((cluster, index) => {
    const agent = cluster.nodeAgent;
    if (!agent) return;
    const prefixes = [['stepKeySecretPrefix', agent.stepKeySecretPrefix, 'step key'], ['certificateSecretPrefix', agent.certificateSecretPrefix, 'pinned certificate']] as const;
    for (const node of cluster.nodes) {
      for (const [field, prefix, what] of prefixes) {
        if (!prefix) continue;
        const name = `${prefix}-${node.name}`;
        const owner = `the ${what} of node ${node.name} of cluster ${cluster.name}`;
        const taken = owners.get(name.toLowerCase());
        if (taken) {
          ctx.addIssue({ code: 'custom', path: ['clusters', index, 'nodeAgent', field], message: `the Key Vault secret "${name}" would be both ${taken} and ${owner}: give each cluster its own prefixes (e.g. "${cluster.name}-step-key" and "${cluster.name}-step-cert")` });
        } else owners.set(name.toLowerCase(), owner);
      }
    }
  });
}

export type NodeConfig = z.infer<typeof NodeSchema>;
export type LoadBalancerConfig = z.infer<typeof LoadBalancerSchema>;
export type PostgresConfig = z.infer<typeof PostgresSchema>;
export type PolicyConfig = z.infer<typeof PolicySchema>;
export type NodeAgentConfig = z.infer<typeof NodeAgentSchema>;
export type ClusterConfig = z.infer<typeof ClusterSchema>;
export type FailoverConfig = z.infer<typeof ConfigSchema>;
