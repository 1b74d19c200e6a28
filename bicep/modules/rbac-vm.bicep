// The failover role on ONE cluster VM (deployed into that VM's resource group): power off and
// Run Command (action and managed) on exactly this VM.
metadata description = 'The failover role for the failover identity on one VM.'

@description('Name of the VM (in the resource group this module is deployed to).')
param vmName string

@description('The failover role (failover-role.bicep): its role definition name, a GUID.')
param roleDefinitionName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

resource vm 'Microsoft.Compute/virtualMachines@2025-04-01' existing = {
  name: vmName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vm.id, identityId, roleDefinitionName)
  scope: vm
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: Run Command and power actions on this PostgreSQL VM'
  }
}
