// The storage account the Functions host uses (AzureWebJobsStorage: host locks, keys, timer
// schedules) and, with durableBackend = 'AzureStorage', the Durable Functions task hub (queues,
// tables, blobs); reached by managed identity only: shared keys are disabled, so no connection
// string or account key exists anywhere. It also holds the Flex Consumption deployment package
// container.
import { Tags } from '../types.bicep'

metadata description = 'Identity-only storage for the azure-pg-failover Function App.'

@description('Azure region.')
param location string

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Blob container that receives the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Principal (object) id of the function app\'s user-assigned identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

@description('Durable Functions backend: the queue and table roles are granted only for AzureStorage (the task hub lives here then).')
@allowed(['DurableTaskScheduler', 'AzureStorage'])
param durableBackend string

@description('Private network (main.bicep privateNetwork): public network access off, reached through private endpoints only.')
param disablePublicNetworkAccess bool = false

param tags Tags = {}

// Blob Data Owner (not just Contributor) in every case: the Functions host manages blob leases
// (host and timer locks), its keys and the deployment container.
var hostRoles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
}
// The Azure Storage provider's task hub: control and work-item queues, History/Instances tables.
// The app has no queue or table trigger, so with the Durable Task Scheduler it needs neither.
var azureStorageBackendRoles = {
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}
var roles = union(hostRoles, durableBackend == 'AzureStorage' ? azureStorageBackendRoles : {})

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: disablePublicNetworkAccess ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: disablePublicNetworkAccess ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Switching an existing deployment from AzureStorage to DurableTaskScheduler leaves the queue and
// table assignments in place (incremental deployment): remove them by hand if you do.
resource dataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(roles): {
    name: guid(account.id, identityId, role.value)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: principalId
      principalType: 'ServicePrincipal'
      // The text it had before the backend became a choice: redeploying PUTs identical assignments.
      description: 'pg-failover: ${role.key} for the Functions host and Durable Functions'
    }
  }
]

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
@description('The storage services the app uses, as private endpoint group ids: blob always, queue and table for the AzureStorage backend\'s task hub (the same split as the roles).')
output dataServices string[] = union(['blob'], durableBackend == 'AzureStorage' ? ['queue', 'table'] : [])
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
