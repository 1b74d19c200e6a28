// The failover role on ONE cluster NIC (deployed into the NIC's resource group): NIC-based
// pools are changed by updating the NIC's IP configuration.
metadata description = 'The failover role for the failover identity on one NIC.'

@description('Name of the network interface.')
param nicName string

@description('The failover role (failover-role.bicep): its role definition name, a GUID.')
param roleDefinitionName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

resource nic 'Microsoft.Network/networkInterfaces@2025-01-01' existing = {
  name: nicName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(nic.id, identityId, roleDefinitionName)
  scope: nic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: move this NIC between the write and read pools'
  }
}
