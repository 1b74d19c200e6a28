// The cluster configuration, typed as in src/config/schema.ts (the app validates it again with
// zod at start-up; these types make `az deployment` reject a misspelt or missing field first).
// Fields with a default in the schema are optional here. @sealed() = the schema's strictObject.
metadata description = 'Types shared by the azure-pg-failover templates.'

@export()
@sealed()
@description('Where a node\'s files differ from the cluster\'s postgres settings.')
type NodeOverrides = {
  dataDirectory: string?
  socketDirectory: string?
  passFile: string?
  logFile: string?
}

@export()
@sealed()
@description('One PostgreSQL server (an Azure VM).')
type NodeConfig = {
  @description('Node name: 1-63 lower-case letters, digits or "-".')
  name: string
  @description('/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>')
  vmResourceId: string
  @description('Private IP address or DNS name PostgreSQL listens on.')
  host: string
  port: int?
  @description('Higher wins when candidates are equally current.')
  priority: int?
  @description('Never promoted (e.g. a reporting replica in another region).')
  noFailover: bool?
  @description('NIC-based pools only: /subscriptions/.../providers/Microsoft.Network/networkInterfaces/<name>')
  nicResourceId: string?
  ipConfigurationName: string?
  overrides: NodeOverrides?
}

@export()
@sealed()
type LoadBalancerConfig = {
  @description('/subscriptions/.../providers/Microsoft.Network/loadBalancers/<name> (the internal load balancer)')
  resourceId: string
  @description('Backend pool behind the write frontend.')
  writePool: string
  @description('Backend pool behind the read frontend.')
  readPool: string
  @description('nic/ip: the app moves nodes between the pools through ARM; probe: every node in both pools, the node agents\' HTTP probes pick the writer.')
  membership: 'nic' | 'ip' | 'probe'
  @description('IP-based pools only: the virtual network of the backend addresses.')
  virtualNetworkId: string?
  @description('Probe mode: the port of each node\'s agent (/primary, /replica).')
  agentPort: int?
}

@export()
@sealed()
type PostgresConfig = {
  database: string?
  adminUser: string?
  @description('Name of the Key Vault secret holding the admin password (the value is seeded after deployment).')
  adminPasswordSecret: string
  replicationUser: string?
  @description('Name of the Key Vault secret holding the replication password.')
  replicationPasswordSecret: string
  applicationRoles: string[]?
  dataDirectory: string?
  binDirectory: string?
  control: ('systemd' | 'pg_ctl')?
  serviceName: string?
  osUser: string?
  socketDirectory: string?
  passFile: string?
  logFile: string?
  @description('TLS to each node; default verify-full, which needs sslRootCertSecret.')
  sslMode: ('disable' | 'require' | 'verify-ca' | 'verify-full')?
  @description('Name of the Key Vault secret holding the CA certificate (PEM) that signed the nodes\' server certificates.')
  sslRootCertSecret: string?
}

@export()
@sealed()
@description('The node steps on each node\'s agent (README "Node steps on the agents").')
type NodeAgentConfig = {
  stepsPort: int?
  @description('Node N\'s step key is the Key Vault secret <prefix>-N.')
  stepKeySecretPrefix: string
  @description('Node N\'s agent is trusted by the self-signed certificate in the Key Vault secret <prefix>-N (else by sslRootCertSecret\'s CA).')
  certificateSecretPrefix: string?
}

@export()
@sealed()
type HealthPolicyConfig = {
  probeTimeoutMs: int?
  failureThreshold: int?
  graceSeconds: int?
}

@export()
@sealed()
type PolicyConfig = {
  maxLagBytesForSwitchover: int?
  maxLagBytesForFailover: int?
  catchupTimeoutSeconds: int?
  pollIntervalMs: int?
  switchoverTimeoutSeconds: int?
  promoteMethod: ('runCommand' | 'sql')?
  autoFailover: bool?
  fenceByPowerOff: bool?
  leaseTtlSeconds: int?
  leaseWaitMarginSeconds: int?
  health: HealthPolicyConfig?
}

@export()
@sealed()
type ClusterConfig = {
  @description('Cluster name: 1-63 lower-case letters, digits or "-"; used in the HTTP routes.')
  name: string
  @minLength(2)
  @maxLength(16)
  nodes: NodeConfig[]
  loadBalancer: LoadBalancerConfig
  postgres: PostgresConfig
  policy: PolicyConfig?
  nodeAgent: NodeAgentConfig?
}

@export()
@sealed()
@description('The whole configuration, as the app reads it from PG_FAILOVER_CONFIG.')
type FailoverConfig = {
  clusters: ClusterConfig[]
}

@export()
@description('Resource tags.')
type Tags = {
  *: string
}

@export()
@sealed()
type SampleNode = {
  @description('Node name in the cluster configuration.')
  name: string
  vmName: string
  nicName: string
  @description('Static private address of the node (its NIC\'s first IP configuration; the write pool\'s in probe mode).')
  address: string
  @description('Probe mode: the address of its second IP configuration, in the read pool (one backend port per rule and address).')
  readAddress: string
  @description('Probe mode: the other nodes\' agents, NAME=ADDRESS:PORT,... (install.sh --peers).')
  agentPeers: string
}

@export()
@sealed()
type SampleLayout = {
  virtualNetworkName: string
  databaseSubnetName: string
  functionsSubnetName: string
  privateEndpointSubnetName: string
  networkSecurityGroupName: string
  natGatewayName: string
  natPublicIpName: string
  availabilitySetName: string
  loadBalancerName: string
  writeFrontendName: string
  readFrontendName: string
  writeFrontendAddress: string
  readFrontendAddress: string
  writePool: string
  readPool: string
  @description('Probe mode: the port of each node\'s agent (/primary, /replica, /peer), the configuration\'s loadBalancer.agentPort.')
  agentPort: int
  @description('Probe mode: the HTTPS port of each node\'s agent for the app\'s node steps, the configuration\'s nodeAgent.stepsPort.')
  stepsPort: int
  nodes: SampleNode[]
}

@export()
@description('Names and addresses of the sample cluster, shared by main.bicep (cluster configuration and role scopes) and modules/sample-cluster.bicep (the resources), so both always agree. Node 1 starts as the primary.')
func sampleClusterLayout(prefix string, databaseSubnetPrefix string) SampleLayout => {
  virtualNetworkName: '${prefix}-pg-vnet'
  databaseSubnetName: 'pg-db'
  functionsSubnetName: 'pg-functions'
  privateEndpointSubnetName: 'pg-private-endpoints'
  networkSecurityGroupName: '${prefix}-pg-db-nsg'
  natGatewayName: '${prefix}-pg-nat'
  natPublicIpName: '${prefix}-pg-nat-ip'
  availabilitySetName: '${prefix}-pg-avset'
  loadBalancerName: '${prefix}-pg-ilb'
  writeFrontendName: 'pg-write-frontend'
  readFrontendName: 'pg-read-frontend'
  // cidrHost index 0 is the subnet's first address (.1); Azure keeps .1-.3 for itself.
  writeFrontendAddress: cidrHost(databaseSubnetPrefix, 99)
  readFrontendAddress: cidrHost(databaseSubnetPrefix, 100)
  writePool: 'pg-write'
  readPool: 'pg-read'
  agentPort: 8432
  stepsPort: 8433
  nodes: map(range(1, 3), n => {
    name: 'pg${n}'
    vmName: '${prefix}-pg${n}'
    nicName: '${prefix}-pg${n}-nic'
    address: cidrHost(databaseSubnetPrefix, 8 + n)
    readAddress: cidrHost(databaseSubnetPrefix, 18 + n)
    agentPeers: join(map(filter(range(1, 3), m => m != n), m => 'pg${m}=${cidrHost(databaseSubnetPrefix, 8 + m)}:8432'), ',')
  })
}
