// The Function App on the Flex Consumption plan (FC1): Node 20, VNet integration into a subnet
// delegated to Microsoft.App/environments (so it reaches the database VMs' private addresses),
// a user-assigned identity for everything (host storage, deployment package, Key Vault, ARM,
// Application Insights), HTTPS only, TLS 1.2, no FTP and no SCM basic-auth publishing.
// Flex takes the runtime from functionAppConfig.runtime: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are not allowed as app settings there (Flex deprecations list).
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

@description('Application Insights connection string.')
param appInsightsConnectionString string

@description('The cluster configuration JSON (PG_FAILOVER_CONFIG); it holds resource ids and secret names, never a password.')
param clusterConfigJson string

@description('Durable Functions task hub name (host.json reads %TASK_HUB_NAME%).')
param taskHubName string

@description('Upper bound on instances (Flex allows 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

param tags Tags = {}

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
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'KEY_VAULT_URL', value: keyVaultUri }
        { name: 'TASK_HUB_NAME', value: taskHubName }
        { name: 'PG_FAILOVER_CONFIG', value: clusterConfigJson }
      ]
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
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '20'
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
