// Virtual Machine Contributor on ONE cluster VM (deployed into that VM's resource group): start,
// stop, power off and Run Command (action and managed) on exactly this VM.
metadata description = 'Virtual Machine Contributor for the failover identity on one VM.'

@description('Name of the VM (in the resource group this module is deployed to).')
param vmName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'

resource vm 'Microsoft.Compute/virtualMachines@2025-04-01' existing = {
  name: vmName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vm.id, identityId, virtualMachineContributor)
  scope: vm
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', virtualMachineContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: Run Command and power actions on this PostgreSQL VM'
  }
}
