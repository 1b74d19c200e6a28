// Key Vault (RBAC authorization) for the PostgreSQL admin and replication passwords. This module
// creates no secret: operators seed them after deployment (README), except the sample cluster's,
// which modules/sample-cluster.bicep writes. The function identity may only read secrets (Key
// Vault Secrets User), scoped to this vault, unless node agents enroll through it: then it also
// writes them (Key Vault Secrets Officer), to store each agent's step key and certificate.
import { Tags } from '../types.bicep'

metadata description = 'Key Vault for the azure-pg-failover secrets.'

@description('Azure region.')
param location string

@description('Key Vault name (3-24 letters, digits and "-", starting with a letter).')
@minLength(3)
@maxLength(24)
param name string

@description('Principal (object) id of the function app\'s user-assigned identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

@description('Purge protection cannot be switched off again; turn it off only for throw-away trials.')
param enablePurgeProtection bool = true

@description('Private network (main.bicep privateNetwork): public network access off, reached through a private endpoint only.')
param disablePublicNetworkAccess bool = false

@description('Node agents enroll their step keys and certificates through the app (a cluster whose nodeAgent pins certificates, as the sample in probe mode): the app may write secrets.')
param allowSecretWrites bool = false

param tags Tags = {}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var appRole = allowSecretWrites ? keyVaultSecretsOfficer : keyVaultSecretsUser

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: disablePublicNetworkAccess ? 'Disabled' : 'Enabled'
    networkAcls: disablePublicNetworkAccess ? { defaultAction: 'Deny', bypass: 'AzureServices' } : null
  }
}

resource secretsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityId, appRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', appRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: allowSecretWrites
      ? 'pg-failover: read the PostgreSQL passwords and store the node agents\' enrolled step keys and certificates'
      : 'pg-failover: read the PostgreSQL admin and replication passwords'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
