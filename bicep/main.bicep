// azure-pg-failover: the Function App that keeps a self-managed PostgreSQL cluster writable,
// deployed into one resource group:
//   - a user-assigned managed identity the app runs as (and nothing else: no keys, no passwords);
//   - a storage account reached by identity only (host, deployment package, and the Durable
//     Functions task hub when durableBackend is AzureStorage); Application Insights on Log
//     Analytics (Entra ID ingestion);
//   - the Durable Functions backend: by default a Durable Task Scheduler (Consumption SKU) with the
//     app's task hub; durableBackend = 'AzureStorage' keeps the task hub in the storage account;
//   - Key Vault (RBAC) for the admin and replication passwords, seeded by operators afterwards
//     (the sample cluster's are written by this deployment);
//   - the Flex Consumption (FC1) Function App, Node 22 (or 24), VNet-integrated so it reaches the
//     VMs, with always-ready instances for its durable and http groups;
//   - least-privilege roles derived from the cluster configuration: one custom role with exactly
//     the actions the app calls (bicep/roles/failover-operator.json) on each cluster VM, load
//     balancer, NIC and database subnet (each assigned at that resource, in its own resource
//     group), data roles on the storage
//     account (blob; plus queue and table for the AzureStorage backend), Durable Task Data
//     Contributor on the task hub (DTS backend), Key Vault Secrets User on the vault;
//   - optionally (deployEventSubscription, once the code is published) an Event Grid system topic
//     on each resource group holding cluster VMs, subscribing the app's vmPowerEvents function to
//     VM power-off / deallocate / restart actions;
//   - optionally (deploySampleCluster) a 3-node PostgreSQL 15 cluster to try it on, with the
//     pg-failover agent installed on its VMs;
//   - optionally (privateNetwork, on with the sample) private endpoints for Key Vault, storage and
//     the app, public network access off on Key Vault and storage, and the app's public endpoint
//     restricted to Event Grid, the database subnets and operatorIpRanges.
import { FailoverConfig, Tags, sampleClusterLayout } from 'types.bicep'

metadata description = 'azure-pg-failover: Functions app (Flex Consumption) keeping a PostgreSQL cluster on Azure VMs writable.'

targetScope = 'resourceGroup'

@description('Region of every resource (Flex Consumption must be available there).')
param location string = resourceGroup().location

@description('Prefix of resource names: 3-11 lower-case letters, digits or "-", starting with a letter.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'pgfo'

@description('Tags for every resource.')
param tags Tags = {}

@description('The cluster configuration (format: src/config/schema.ts), given to the app as PG_FAILOVER_CONFIG. Role assignments are derived from it: its VMs, load balancers and NICs (and virtual networks for IP-based pools). Holds Key Vault secret NAMES, never passwords.')
param clusterConfig FailoverConfig = { clusters: [] }

@description('Subnet for the app\'s VNet integration, delegated to Microsoft.App/environments, in (or peered with) the database network. Not needed when deploySampleCluster is true.')
param functionsSubnetId string = ''

@description('Subnets the cluster NICs are in (NIC-based pools): moving a NIC between pools sends its IP configuration, and ARM checks subnets/join/action there, so the app gets its failover role on each of these subnets.')
param databaseSubnetIds string[] = []

@description('Durable Functions task hub name (letters and digits, 3-45).')
@minLength(3)
@maxLength(45)
param taskHubName string = 'pgfailover'

@description('Node.js major version of the Function App (Flex Consumption runtime): 22 (default) or 24.')
@allowed(['22', '24'])
param nodeVersion string = '22'

@description('Durable Functions backend: DurableTaskScheduler (default: a Consumption-SKU scheduler and task hub, identity-only) or AzureStorage (the task hub in the storage account, through host.json overrides in app settings).')
@allowed(['DurableTaskScheduler', 'AzureStorage'])
param durableBackend string = 'DurableTaskScheduler'

@description('Durable Task Scheduler: source addresses (IPv4, IPv6 or CIDR) allowed to reach it. Must not be empty (an empty list denies everything). The default admits any IPv4 source (authorization stays with Entra ID + RBAC): restrict it, e.g. to the public IP of a NAT gateway on the Functions subnet and the operators\' addresses (dashboard).')
@minLength(1)
param durableTaskSchedulerIpAllowlist string[] = ['0.0.0.0/0']

@description('Flex Consumption: maximum on-demand instances per scale group (1-1000; always-ready instances come on top). A failover controller needs no scale-out.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 1

@description('Flex Consumption: always-ready instances of the "durable" group (0 lets orchestrations wait for a cold start).')
@minValue(0)
param alwaysReadyDurableInstances int = 1

@description('Flex Consumption: always-ready instances of the "http" group (0 lets the agents\' calls wait for a cold start).')
@minValue(0)
param alwaysReadyHttpInstances int = 1

@description('Flex Consumption: memory per instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Key Vault purge protection (cannot be undone). Turn off only for throw-away trials.')
param keyVaultPurgeProtection bool = true

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Action group (resource id) the alert rules notify: a failover happened, an operation failed or aborted, the health check has not run, a cluster not healthy for a while, lag above the failover bound, scheduled-event forwarding failing. Empty: the alerts fire without notifying anyone.')
param alertActionGroupId string = ''

@description('Minutes without an observed health check of a cluster before the "health check has not run" alert fires.')
@allowed([5, 10, 15, 30, 45])
param healthCheckSilenceMinutes int = 10

@description('Minutes in which every health check of a cluster found it other than healthy before the "cluster not healthy" alert fires.')
@allowed([15, 30, 60, 120])
param unhealthyMinutes int = 30

@description('Subscribe the app\'s Event Grid function vmPowerEvents to power-off, deallocate and restart actions on the cluster VMs (one Event Grid system topic per resource group of those VMs). Event Grid only accepts the subscription once the function exists: leave false until the code is published, then deploy again with true.')
param deployEventSubscription bool = false

@description('The audience the VM agents request their managed identity tokens for, and the only one the app\'s node routes accept (app setting NODE_AUTH_AUDIENCE): the application ID URI or application (client) id of an Entra app registration, created once with `az ad app create --display-name pg-failover-nodes` and `az ad sp create --id <appId>`. Required when deploySampleCluster is true or clusterConfig has a cluster.')
param nodeAuthAudience string = ''

@description('Also deploy a 3-node PostgreSQL 15 sample cluster (and its network, and the pg-failover agent on its VMs) and add it to the configuration.')
param deploySampleCluster bool = false

@description('Private network: subnet for the private endpoints (any subnet with free addresses, in the database network or one peered with it). Required with privateNetwork unless deploySampleCluster is true (the sample has its own); giving one turns privateNetwork on by default.')
param privateEndpointSubnetId string = ''

@description('Private network: private endpoints (Key Vault, storage, the app) with private DNS zones; public network access off on Key Vault and storage; the app\'s public endpoint kept for Event Grid (which cannot deliver to a private endpoint) but restricted to the AzureEventGrid service tag, the database subnets and operatorIpRanges. Default: on with the sample cluster or a privateEndpointSubnetId, off otherwise (README "Private network").')
param privateNetwork bool = deploySampleCluster || !empty(privateEndpointSubnetId)

@description('Private network: create the private DNS zones and link them to the networks of the endpoint, Functions and database subnets. false: your DNS (e.g. central privatelink zones) must resolve the endpoints.')
param privateNetworkDnsZones bool = true

@description('Private network: public address ranges (IPv4/IPv6 CIDR) admitted to the app and its scm (deployment) site, e.g. the operators\' (CLI, code deployment). Empty: the app only through its private endpoint, Event Grid and the database subnets.')
param operatorIpRanges string[] = []

@description('Sample cluster: its name in the configuration (and the HTTP routes).')
param sampleClusterName string = 'sample'

@description('Sample cluster: how its load balancer finds the writer. probe (default) = every node in both pools, each node\'s agent answers the HTTP probes /primary and /replica by the app\'s write lease: no ARM call when the primary changes; pools = TCP probes, the app moves the NICs between the pools through ARM (README "Probe mode").')
@allowed(['probe', 'pools'])
param sampleLoadBalancing string = 'probe'

@description('Sample cluster: virtual network address space.')
param sampleVirtualNetworkPrefix string = '10.50.0.0/16'

@description('Sample cluster: database subnet (VMs at .10-.12 and, in probe mode, their read addresses at .20-.22; write frontend .100, read frontend .101).')
param sampleDatabaseSubnetPrefix string = '10.50.1.0/24'

@description('Sample cluster: Functions integration subnet.')
param sampleFunctionsSubnetPrefix string = '10.50.2.0/24'

@description('Sample cluster: subnet of the private endpoints (privateNetwork).')
param samplePrivateEndpointSubnetPrefix string = '10.50.3.0/24'

@description('Sample cluster: VM size.')
param sampleVmSize string = 'Standard_D2s_v5'

@description('Sample cluster: availability zones for the three VMs; [] puts them in an availability set instead.')
param sampleZones string[] = ['1', '2', '3']

@description('Sample cluster: VM admin user name (SSH key only).')
param sampleAdminUsername string = 'pgadmin'

@description('Sample cluster: SSH public key of the admin user (required when deploySampleCluster is true).')
param sampleSshPublicKey string = ''

@description('Sample cluster: password of the "postgres" role (required when deploySampleCluster is true). The deployment writes it into Key Vault as pg-admin-password.')
@secure()
param samplePostgresAdminPassword string = ''

@description('Sample cluster: password of the replication role (required when deploySampleCluster is true). The deployment writes it into Key Vault as pg-replication-password.')
@secure()
param sampleReplicationPassword string = ''

var unique = uniqueString(resourceGroup().id, namePrefix)
var names = {
  identity: '${namePrefix}-identity'
  storage: take('${toLower(replace(namePrefix, '-', ''))}st${unique}', 24)
  keyVault: take('${namePrefix}-kv-${unique}', 24)
  workspace: '${namePrefix}-logs'
  appInsights: '${namePrefix}-appi'
  plan: '${namePrefix}-plan'
  functionApp: '${namePrefix}-func-${unique}'
  durableTaskScheduler: '${namePrefix}-dts-${unique}'
  deploymentContainer: 'app-package'
}

// ---- The sample cluster's entry in the configuration (same names as the module creates) ----
var sampleLayout = sampleClusterLayout(namePrefix, sampleDatabaseSubnetPrefix)
var sampleReplicationUser = 'replicator'
var sampleProbeMode = sampleLoadBalancing == 'probe'
var sampleCluster = {
  name: sampleClusterName
  // Pools mode: the NIC whose first IP configuration the app moves between the pools. Probe mode:
  // no NIC (the app edits none, and gets no role on them or on the subnet).
  nodes: map(sampleLayout.nodes, node => union(
    {
      name: node.name
      vmResourceId: resourceId('Microsoft.Compute/virtualMachines', node.vmName)
      host: node.address
      port: 5432
    },
    sampleProbeMode
      ? {}
      : {
          nicResourceId: resourceId('Microsoft.Network/networkInterfaces', node.nicName)
          ipConfigurationName: 'ipconfig1'
        }
  ))
  loadBalancer: union(
    {
      resourceId: resourceId('Microsoft.Network/loadBalancers', sampleLayout.loadBalancerName)
      writePool: sampleLayout.writePool
      readPool: sampleLayout.readPool
    },
    sampleProbeMode ? { membership: 'probe', agentPort: sampleLayout.agentPort } : { membership: 'nic' }
  )
  postgres: {
    adminUser: 'postgres'
    adminPasswordSecret: 'pg-admin-password'
    replicationUser: sampleReplicationUser
    replicationPasswordSecret: 'pg-replication-password'
    // The sample's nodes use the image's snakeoil certificate (cloud-init/pg-node.yaml): TLS, unverified.
    sslMode: 'require'
  }
}
// Probe mode: the node steps go to the agents first, each trusted by its snakeoil certificate,
// which it enrolls with its step key through the app (install.sh --enroll-steps).
var sampleNodeAgent = sampleProbeMode
  ? {
      nodeAgent: {
        stepsPort: sampleLayout.stepsPort
        // Named after the cluster: every cluster's nodes have secrets of their own in the one vault.
        stepKeySecretPrefix: '${sampleClusterName}-step-key'
        certificateSecretPrefix: '${sampleClusterName}-step-cert'
      }
    }
  : {}
var sampleDatabaseSubnetId = resourceId(
  'Microsoft.Network/virtualNetworks/subnets',
  sampleLayout.virtualNetworkName,
  sampleLayout.databaseSubnetName
)
var sampleFunctionsSubnetId = resourceId(
  'Microsoft.Network/virtualNetworks/subnets',
  sampleLayout.virtualNetworkName,
  sampleLayout.functionsSubnetName
)
var samplePrivateEndpointSubnetId = resourceId(
  'Microsoft.Network/virtualNetworks/subnets',
  sampleLayout.virtualNetworkName,
  sampleLayout.privateEndpointSubnetName
)

var effectiveConfig = {
  clusters: concat(clusterConfig.clusters, deploySampleCluster ? [union(sampleCluster, sampleNodeAgent)] : [])
}
// With any cluster the app must know whose tokens to accept: without a usable audience the
// deployment stops at once, saying so (fail() in that branch).
var checkedNodeAuthAudience = empty(effectiveConfig.clusters) || (!empty(nodeAuthAudience) && !contains(nodeAuthAudience, ' ') && !contains(nodeAuthAudience, '\'') && !contains(nodeAuthAudience, '"'))
  ? nodeAuthAudience
  : fail('nodeAuthAudience is required with a cluster (deploySampleCluster or clusterConfig), without spaces or quotes: the application ID URI or application id of the Entra app registration the VM agents request tokens for (az ad app create --display-name pg-failover-nodes; az ad sp create --id <appId>).')

// Clusters whose node agents are trusted by pinned certificates: their agents enroll through the
// app (install.sh --enroll-steps), which then writes their secrets.
var enrollingAgents = !empty(filter(effectiveConfig.clusters, cluster => !empty(cluster.?nodeAgent.?certificateSecretPrefix ?? '')))

// ---- Role scopes, derived from the configuration (union(x, []) removes duplicates) ----
var allNodes = flatten(map(effectiveConfig.clusters, cluster => cluster.nodes))
var vmIds = union(map(allNodes, node => node.vmResourceId), [])
var nicIds = union(map(filter(allNodes, node => !empty(node.?nicResourceId ?? '')), node => node.nicResourceId!), [])
var loadBalancerIds = union(map(effectiveConfig.clusters, cluster => cluster.loadBalancer.resourceId), [])
var ipPoolVirtualNetworkIds = union(
  map(
    filter(
      effectiveConfig.clusters,
      cluster => cluster.loadBalancer.membership == 'ip' && !empty(cluster.loadBalancer.?virtualNetworkId ?? '')
    ),
    cluster => cluster.loadBalancer.virtualNetworkId!
  ),
  []
)
var subnetIds = union(databaseSubnetIds, deploySampleCluster ? [sampleDatabaseSubnetId] : [])
// The subnets of NICs the app edits (ARM checks subnets/join/action on a NIC update): none of the
// sample's in probe mode.
var nicSubnetIds = union(databaseSubnetIds, deploySampleCluster && !sampleProbeMode ? [sampleDatabaseSubnetId] : [])
// Resource groups holding any cluster resource the failover role is assigned on (its assignable
// scopes), lower-cased so that two spellings of one group give one scope.
var clusterResourceGroupIds = union(
  map(
    concat(vmIds, nicIds, loadBalancerIds, nicSubnetIds, ipPoolVirtualNetworkIds),
    id => toLower('/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}')
  ),
  []
)
// Resource groups holding cluster VMs (Event Grid system topics), lower-cased so that two
// spellings of one group give one topic.
var vmResourceGroupIds = union(
  map(vmIds, vmId => toLower('/subscriptions/${split(vmId, '/')[2]}/resourceGroups/${split(vmId, '/')[4]}')),
  []
)

// Below, split(id, '/') of an ARM id gives [2] the subscription, [4] the resource group and
// [8] the resource name (for a subnet: [8] its virtual network, [10] the subnet).

// ---- Private network: where the endpoints go, and the networks that must resolve them ----
// Without a subnet for them the deployment stops at once, saying so (fail() in the one branch).
var privateNetworkEndpointSubnetId = !privateNetwork
  ? ''
  : deploySampleCluster
      ? samplePrivateEndpointSubnetId
      : !empty(privateEndpointSubnetId)
          ? privateEndpointSubnetId
          : fail('privateNetwork is on but privateEndpointSubnetId is empty: give the subnet for the private endpoints, or set privateNetwork=false.')
// The virtual networks of the endpoint subnet, the app's integration subnet (the app resolves
// Key Vault and storage there) and the database subnets (the agents resolve the app there),
// lower-cased so that two spellings of one network give one link.
var privateDnsVirtualNetworkIds = union(
  map(
    filter(
      concat(
        [privateNetworkEndpointSubnetId, deploySampleCluster ? sampleFunctionsSubnetId : functionsSubnetId],
        subnetIds
      ),
      id => !empty(id)
    ),
    id =>
      toLower('/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}/providers/Microsoft.Network/virtualNetworks/${split(id, '/')[8]}')
  ),
  []
)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.identity
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'pgfo-monitoring'
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    principalId: identity.properties.principalId
    identityId: identity.id
    retentionInDays: logRetentionDays
    tags: tags
  }
}

module monitoringWorkbook 'modules/monitoring-workbook.bicep' = {
  name: 'pgfo-monitoring-workbook'
  params: {
    location: location
    namePrefix: namePrefix
    appInsightsId: monitoring.outputs.appInsightsId
    tags: tags
  }
}

module monitoringAlerts 'modules/monitoring-alerts.bicep' = {
  name: 'pgfo-monitoring-alerts'
  params: {
    location: location
    namePrefix: namePrefix
    appInsightsId: monitoring.outputs.appInsightsId
    actionGroupId: alertActionGroupId
    healthCheckSilenceMinutes: healthCheckSilenceMinutes
    unhealthyMinutes: unhealthyMinutes
    clusterNames: map(effectiveConfig.clusters, cluster => cluster.name)
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'pgfo-storage'
  params: {
    location: location
    name: names.storage
    deploymentContainerName: names.deploymentContainer
    principalId: identity.properties.principalId
    identityId: identity.id
    durableBackend: durableBackend
    disablePublicNetworkAccess: privateNetwork
    tags: tags
  }
}

// The Durable Task Scheduler, its task hub (named as the app's) and the app's data role on it.
module durableTaskScheduler 'modules/durable-task-scheduler.bicep' = if (durableBackend == 'DurableTaskScheduler') {
  name: 'pgfo-durable-task-scheduler'
  params: {
    location: location
    name: names.durableTaskScheduler
    taskHubName: taskHubName
    ipAllowlist: durableTaskSchedulerIpAllowlist
    principalId: identity.properties.principalId
    identityId: identity.id
    tags: tags
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'pgfo-key-vault'
  params: {
    location: location
    name: names.keyVault
    principalId: identity.properties.principalId
    identityId: identity.id
    enablePurgeProtection: keyVaultPurgeProtection
    disablePublicNetworkAccess: privateNetwork
    // Agents with pinned certificates enroll their step keys and certificates through the app (the sample's in probe mode).
    allowSecretWrites: enrollingAgents
    tags: tags
  }
}

// ---- The sample cluster, in two modules: network → Function App → VMs ----
// The app is VNet-integrated into the sample's Functions subnet, so the network must exist
// before the app; the VMs' cloud-init installs the agent with the app's URL, and custom data
// cannot change after a VM is created, so the VMs come after the app. In one module that would be
// a cycle (app → sample → app). Split, each edge points one way: sampleNetwork → functionApp
// (dependsOn: the subnet) → sample (through appUrl, an output of functionApp). No key of the app
// reaches the VMs: their agents authenticate with the VMs' managed identities (nodeAuthAudience).
module sampleNetwork 'modules/sample-network.bicep' = if (deploySampleCluster) {
  name: 'pgfo-sample-network'
  params: {
    location: location
    layout: sampleLayout
    virtualNetworkPrefix: sampleVirtualNetworkPrefix
    databaseSubnetPrefix: sampleDatabaseSubnetPrefix
    functionsSubnetPrefix: sampleFunctionsSubnetPrefix
    privateEndpointSubnetPrefix: samplePrivateEndpointSubnetPrefix
    zones: sampleZones
    loadBalancing: sampleLoadBalancing
    tags: tags
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'pgfo-function-app'
  params: {
    location: location
    name: names.functionApp
    planName: names.plan
    identityId: identity.id
    identityClientId: identity.properties.clientId
    subnetId: deploySampleCluster ? sampleFunctionsSubnetId : functionsSubnetId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    keyVaultUri: keyVault.outputs.uri
    appInsightsConnectionString: monitoring.outputs.connectionString
    clusterConfigJson: string(effectiveConfig)
    taskHubName: taskHubName
    nodeVersion: nodeVersion
    durableBackend: durableBackend
    // Also orders the app after the scheduler, its task hub and the role assignment.
    durableTaskSchedulerEndpoint: durableBackend == 'DurableTaskScheduler' ? durableTaskScheduler!.outputs.endpoint : ''
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyDurableInstances: alwaysReadyDurableInstances
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    instanceMemoryMB: instanceMemoryMB
    nodeAuthAudience: checkedNodeAuthAudience
    restrictPublicAccess: privateNetwork
    allowedSubnetIds: subnetIds
    allowedIpRanges: operatorIpRanges
    tags: tags
  }
  dependsOn: [sampleNetwork]
}

// The private endpoints (after the app, whose endpoint is one of them; the sample's subnet exists
// by then, as the app integrates into the same network).
module privateNetworkEndpoints 'modules/private-network.bicep' = if (privateNetwork) {
  name: 'pgfo-private-network'
  params: {
    location: location
    namePrefix: namePrefix
    subnetId: privateNetworkEndpointSubnetId
    createDnsZones: privateNetworkDnsZones
    virtualNetworkIds: privateDnsVirtualNetworkIds
    keyVaultId: keyVault.outputs.id
    storageAccountId: storage.outputs.id
    storageServices: storage.outputs.dataServices
    functionAppId: functionApp.outputs.id
    tags: tags
  }
}

module sample 'modules/sample-cluster.bicep' = if (deploySampleCluster) {
  name: 'pgfo-sample-cluster'
  params: {
    location: location
    layout: sampleLayout
    virtualNetworkPrefix: sampleVirtualNetworkPrefix
    databaseSubnetPrefix: sampleDatabaseSubnetPrefix
    nicIds: sampleNetwork!.outputs.nicIds
    vmSize: sampleVmSize
    zones: sampleZones
    adminUsername: sampleAdminUsername
    sshPublicKey: sampleSshPublicKey
    replicationUser: sampleReplicationUser
    // Written into the vault as the configuration's secrets; the VMs read the replication one from
    // there at boot, and a Run Command sets the admin one on pg1.
    postgresAdminPassword: samplePostgresAdminPassword
    replicationPassword: sampleReplicationPassword
    keyVaultName: names.keyVault
    // Also what orders this module after the vault (an output of it).
    keyVaultUri: keyVault.outputs.uri
    adminPasswordSecretName: sampleCluster.postgres.adminPasswordSecret
    replicationPasswordSecretName: sampleCluster.postgres.replicationPasswordSecret
    clusterName: sampleClusterName
    // Also what orders this module after the app (an output of it).
    appUrl: 'https://${functionApp.outputs.defaultHostName}'
    nodeAuthAudience: checkedNodeAuthAudience
    loadBalancing: sampleLoadBalancing
    tags: tags
  }
  // With the private network, the VMs reach the app and Key Vault through their endpoints.
  dependsOn: [privateNetworkEndpoints]
}

// ---- Least-privilege roles on the cluster's own resources, each in its resource group ----
// Named here, known at the start of the deployment, so that each assignment's name and role id are too.
// One per deployment (resource group and namePrefix): a second deployment beside it never rewrites
// this one's assignable scopes.
var failoverRoleDefinitionName = guid(resourceGroup().id, namePrefix, 'pg-failover operator')

module failoverRole 'modules/failover-role.bicep' = {
  name: 'pgfo-failover-role'
  params: {
    roleDefinitionName: failoverRoleDefinitionName
    deploymentName: namePrefix
    clusterResourceGroupIds: clusterResourceGroupIds
  }
}

module vmRoles 'modules/rbac-vm.bicep' = [
  for (vmId, i) in vmIds: {
    name: take('pgfo-rbac-vm-${i}-${uniqueString(vmId)}', 64)
    scope: resourceGroup(split(vmId, '/')[2], split(vmId, '/')[4])
    params: {
      vmName: last(split(vmId, '/'))
      roleDefinitionName: failoverRoleDefinitionName
      principalId: identity.properties.principalId
      identityId: identity.id
    }
    dependsOn: [sample, failoverRole]
  }
]

module nicRoles 'modules/rbac-nic.bicep' = [
  for (nicId, i) in nicIds: {
    name: take('pgfo-rbac-nic-${i}-${uniqueString(nicId)}', 64)
    scope: resourceGroup(split(nicId, '/')[2], split(nicId, '/')[4])
    params: {
      nicName: last(split(nicId, '/'))
      roleDefinitionName: failoverRoleDefinitionName
      principalId: identity.properties.principalId
      identityId: identity.id
    }
    dependsOn: [sampleNetwork, failoverRole]
  }
]

module loadBalancerRoles 'modules/rbac-load-balancer.bicep' = [
  for (loadBalancerId, i) in loadBalancerIds: {
    name: take('pgfo-rbac-lb-${i}-${uniqueString(loadBalancerId)}', 64)
    scope: resourceGroup(split(loadBalancerId, '/')[2], split(loadBalancerId, '/')[4])
    params: {
      loadBalancerName: last(split(loadBalancerId, '/'))
      roleDefinitionName: failoverRoleDefinitionName
      principalId: identity.properties.principalId
      identityId: identity.id
    }
    dependsOn: [sampleNetwork, failoverRole]
  }
]

module subnetRoles 'modules/rbac-subnet.bicep' = [
  for (subnetId, i) in nicSubnetIds: {
    name: take('pgfo-rbac-subnet-${i}-${uniqueString(subnetId)}', 64)
    scope: resourceGroup(split(subnetId, '/')[2], split(subnetId, '/')[4])
    params: {
      virtualNetworkName: split(subnetId, '/')[8]
      subnetName: split(subnetId, '/')[10]
      roleDefinitionName: failoverRoleDefinitionName
      principalId: identity.properties.principalId
      identityId: identity.id
    }
    dependsOn: [sampleNetwork, failoverRole]
  }
]

module virtualNetworkRoles 'modules/rbac-vnet.bicep' = [
  for (virtualNetworkId, i) in ipPoolVirtualNetworkIds: {
    name: take('pgfo-rbac-vnet-${i}-${uniqueString(virtualNetworkId)}', 64)
    scope: resourceGroup(split(virtualNetworkId, '/')[2], split(virtualNetworkId, '/')[4])
    params: {
      virtualNetworkName: last(split(virtualNetworkId, '/'))
      roleDefinitionName: failoverRoleDefinitionName
      principalId: identity.properties.principalId
      identityId: identity.id
    }
    dependsOn: [failoverRole]
  }
]

// ---- Event Grid: ARM's VM power actions → the app's vmPowerEvents function ----
// One system topic per resource group holding cluster VMs (a resource group's system topic sees
// every successful ARM action on its resources; the subscription keeps the three VM power
// actions). Only when deployEventSubscription is true: Event Grid validates an AzureFunction
// destination against the deployed function, which does not exist before the code is published.
module vmPowerEvents 'modules/event-grid-vm-power.bicep' = [
  for (resourceGroupId, i) in vmResourceGroupIds: if (deployEventSubscription) {
    name: take('pgfo-vm-power-events-${i}-${uniqueString(resourceGroupId)}', 64)
    scope: resourceGroup(split(resourceGroupId, '/')[2], split(resourceGroupId, '/')[4])
    params: {
      systemTopicName: '${namePrefix}-vm-power-events'
      functionResourceId: '${functionApp.outputs.id}/functions/vmPowerEvents'
      tags: tags
    }
  }
]

output functionAppName string = functionApp.outputs.name
output functionAppUrl string = 'https://${functionApp.outputs.defaultHostName}'
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
@description('The Durable Task Scheduler endpoint (DTS backend; empty with AzureStorage), e.g. for the DTS dashboard.')
output durableTaskSchedulerEndpoint string = durableBackend == 'DurableTaskScheduler' ? durableTaskScheduler!.outputs.endpoint : ''
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
@description('The configuration the app was given (no secrets: resource ids and secret names). After a first deployment with the sample cluster, pass this as clusterConfig and set deploySampleCluster=false.')
output clusterConfig FailoverConfig = effectiveConfig
@description('The subnet the app is integrated with (pass it as functionsSubnetId on later deployments).')
output functionsSubnetId string = deploySampleCluster ? sampleFunctionsSubnetId : functionsSubnetId
@description('The private endpoints\' subnet, empty without the private network (pass it as privateEndpointSubnetId on later deployments: that keeps privateNetwork on).')
output privateEndpointSubnetId string = privateNetworkEndpointSubnetId
