// Network Contributor on ONE cluster NIC (deployed into the NIC's resource group): NIC-based
// pools are changed by updating the NIC's IP configuration.
metadata description = 'Network Contributor for the failover identity on one NIC.'

@description('Name of the network interface.')
param nicName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

var networkContributor = '4d97b98b-1d4f-4787-a291-c67834d212e7'

resource nic 'Microsoft.Network/networkInterfaces@2025-01-01' existing = {
  name: nicName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(nic.id, identityId, networkContributor)
  scope: nic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', networkContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: move this NIC between the write and read pools'
  }
}
