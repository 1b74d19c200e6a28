// The Function App on the Flex Consumption plan (FC1): Node 22 (or 24), VNet integration into a
// subnet delegated to Microsoft.App/environments (so it reaches the database VMs' private
// addresses), a user-assigned identity for everything (host storage, deployment package, Durable
// Task Scheduler, Key Vault, ARM, Application Insights), HTTPS only, TLS 1.2, no FTP and no SCM
// basic-auth publishing.
// Flex takes the runtime from functionAppConfig.runtime: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are not allowed as app settings there (Flex deprecations list).
// Durable Functions backend: host.json names the Durable Task Scheduler provider ("azureManaged",
// connection DURABLE_TASK_SCHEDULER_CONNECTION_STRING); with durableBackend = 'AzureStorage' the
// app settings below override that through the host's documented AzureFunctionsJobHost__path__to__setting
// mechanism (an app setting replaces the host.json value at that path), so one host.json serves both.
import { Tags } from '../types.bicep'

metadata description = 'Flex Consumption Function App for azure-pg-failover.'

@description('Azure region.')
param location string

@description('Function App name (globally unique host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Resource id of the VNet-integration subnet (delegated to Microsoft.App/environments). Required: the app must reach the database VMs.')
@minLength(1)
param subnetId string

@description('Storage account name for the host and Durable Functions (identity-based).')
param storageAccountName string

@description('URL of the blob container that receives deployment packages.')
param deploymentContainerUrl string

@description('Key Vault URI (KEY_VAULT_URL).')
param keyVaultUri string

@description('NODE_AUTH_AUDIENCE: the audience of the VM managed identity tokens the node routes accept (an Entra application ID URI or application id); main.bicep requires it with any cluster.')
param nodeAuthAudience string

@description('Application Insights connection string.')
param appInsightsConnectionString string

@description('The cluster configuration JSON (PG_FAILOVER_CONFIG); it holds resource ids and secret names, never a password.')
param clusterConfigJson string

@description('Durable Functions task hub name (host.json reads %TASK_HUB_NAME%).')
param taskHubName string

@description('Node.js major version of the Flex runtime.')
@allowed(['22', '24'])
param nodeVersion string = '22'

@description('Durable Functions backend: the Durable Task Scheduler (host.json as is) or Azure Storage (host.json overridden by app settings).')
@allowed(['DurableTaskScheduler', 'AzureStorage'])
param durableBackend string = 'DurableTaskScheduler'

@description('Durable Task Scheduler endpoint (https://...durabletask.io); required with durableBackend = DurableTaskScheduler, ignored otherwise.')
param durableTaskSchedulerEndpoint string = ''

@description('Upper bound on on-demand instances per scale group (Flex allows 1-1000, docs "Event-driven scaling"; always-ready instances do not count).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 1

@description('Always-ready instances of the "durable" group (orchestrations, activities, entities); 0 lets it scale to zero.')
@minValue(0)
param alwaysReadyDurableInstances int = 1

@description('Always-ready instances of the "http" group (the agents\' and operators\' HTTP calls); 0 lets it scale to zero.')
@minValue(0)
param alwaysReadyHttpInstances int = 1

@description('Memory per instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Private network (main.bicep privateNetwork): the public endpoint stays on (Event Grid cannot deliver to a private endpoint) but denies by default, admitting Event Grid (service tag AzureEventGrid), allowedSubnetIds and allowedIpRanges; the scm (deployment) site admits allowedIpRanges only. Traffic through the app\'s private endpoint is not subject to these rules.')
param restrictPublicAccess bool = false

@description('With restrictPublicAccess: subnets admitted to the app (the database subnets, whose agents call the node routes). A subnet rule matches traffic that comes through a Microsoft.Web service endpoint on that subnet.')
param allowedSubnetIds string[] = []

@description('With restrictPublicAccess: public address ranges (IPv4/IPv6 CIDR) admitted to the app and its scm site: operators running the CLI or deploying code.')
param allowedIpRanges string[] = []

param tags Tags = {}

// The setting host.json's storageProvider.connectionStringName names (DTS provider).
var durableTaskSchedulerConnectionSetting = 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'

var baseAppSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'KEY_VAULT_URL', value: keyVaultUri }
  { name: 'TASK_HUB_NAME', value: taskHubName }
  { name: 'PG_FAILOVER_CONFIG', value: clusterConfigJson }
  { name: 'NODE_AUTH_AUDIENCE', value: nodeAuthAudience }
  { name: 'NODE_AUTH_TENANT_ID', value: subscription().tenantId }
]

// DTS authenticates with Entra ID only. The app runs as a USER-assigned identity, so the
// connection names its client id (a system-assigned identity would omit ClientID). No TaskHub
// part: Durable Functions takes the hub from host.json's hubName.
var durableTaskSchedulerSettings = [
  {
    name: durableTaskSchedulerConnectionSetting
    value: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  }
]

// host.json overrides (extensions.durableTask.storageProvider.*) for the Azure Storage provider on
// the identity-based AzureWebJobsStorage connection. connectionStringName must be overridden too:
// host.json sets it to the DTS setting, and the Azure Storage provider reads the same key
// (connectionName/connectionStringName are one option). maxQueuePollingInterval 1 s: the
// provider's idle back-off otherwise lets a queued failover step wait up to 30 s (the extension
// already uses 1 s on Flex in recent versions; setting it does not depend on that).
var azureStorageBackendSettings = [
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__type', value: 'AzureStorage' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName', value: 'AzureWebJobsStorage' }
  { name: 'AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval', value: '00:00:01' }
]

// Access restrictions (restrictPublicAccess), in priority order: Event Grid, the subnets, the
// operators' addresses; everything else meets the default action, Deny.
var eventGridRule = {
  name: 'event-grid'
  description: 'Event Grid delivery to vmPowerEvents (public endpoint only)'
  action: 'Allow'
  priority: 100
  tag: 'ServiceTag'
  ipAddress: 'AzureEventGrid'
}
// A subnet rule matches only traffic through a Microsoft.Web service endpoint on that subnet (the
// sample's database subnet has one); for a subnet without it the rule is accepted and never
// matches. App Service's IpSecurityRestriction has no ignoreMissingVnetServiceEndpoint (Bicep's
// types for 2024-11-01 and 2025-03-01 refuse it: that check lives in az/PowerShell, not ARM). The
// agents need no rule anyway: they reach the app through its private endpoint (the DNS zone is
// linked to the database networks), which these rules do not filter.
var subnetRules = map(allowedSubnetIds, (id, i) => {
  name: 'database-subnet-${i}'
  action: 'Allow'
  priority: 200 + i
  vnetSubnetResourceId: id
})
var ipRangeRules = map(allowedIpRanges, (range, i) => {
  name: 'operator-${i}'
  action: 'Allow'
  priority: 300 + i
  tag: 'Default'
  ipAddress: range
})

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    virtualNetworkSubnetId: subnetId
    keyVaultReferenceIdentity: identityId
    // Private network: explicitly on (restricted below), whatever a private endpoint implies.
    publicNetworkAccess: restrictPublicAccess ? 'Enabled' : null
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Private network only (null: the open defaults, as without it).
      ipSecurityRestrictions: restrictPublicAccess ? concat([eventGridRule], subnetRules, ipRangeRules) : null
      ipSecurityRestrictionsDefaultAction: restrictPublicAccess ? 'Deny' : null
      scmIpSecurityRestrictionsUseMain: restrictPublicAccess ? false : null
      scmIpSecurityRestrictions: restrictPublicAccess ? ipRangeRules : null
      scmIpSecurityRestrictionsDefaultAction: restrictPublicAccess ? 'Deny' : null
      appSettings: concat(
        baseAppSettings,
        durableBackend == 'DurableTaskScheduler' ? durableTaskSchedulerSettings : azureStorageBackendSettings
      )
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        // Groups with 0 are left out (they scale from zero like any other group).
        alwaysReady: filter(
          [
            // A failover's orchestration and activities start at once, not after a cold start.
            { name: 'durable', instanceCount: alwaysReadyDurableInstances }
            // The agents' calls (a Preempt notice leaves 30 s) are answered without a cold start.
            { name: 'http', instanceCount: alwaysReadyHttpInstances }
          ],
          group => group.instanceCount > 0
        )
        // A failover controller has no load to spread; the cap also bounds the subnet addresses instances take.
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// Basic-auth publishing (FTP and the SCM site's user/password) off: deploy with Entra ID only.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
