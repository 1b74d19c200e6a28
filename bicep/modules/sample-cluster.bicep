// The three PostgreSQL VMs of the sample cluster (main.bicep, deploySampleCluster=true):
// Debian 12 spread over availability zones (or an availability set where the region has no
// zones), PostgreSQL 15 set up by cloud-init (node 1 primary, nodes 2-3 streaming standbys) and
// the pg-failover agent (agent/ in the repository: scheduled-events forwarder and shutdown hook)
// installed by cloud-init too, pointed at the Function App. The network (VNet, load balancer, the
// NICs these VMs use) is sample-network.bicep.
//
// No secret reaches a VM's custom data. Each VM has a system-assigned identity: its agent calls
// the app with that identity's tokens (for nodeAuthAudience), and at boot it reads the passwords
// this module writes into Key Vault, with Key Vault Secrets User on exactly the secrets it needs
// (granted once the VMs, and so their identities, exist; the boot script waits for the grant).
//
// Deployed AFTER the Function App (main.bicep passes its URL), because the VMs' custom data
// cannot change once they exist; the network module is deployed BEFORE the app.
import { SampleLayout, Tags } from '../types.bicep'

metadata description = 'Sample 3-node PostgreSQL 15 cluster (the VMs) with the pg-failover agent.'

@description('Azure region.')
param location string

@description('Names and addresses (types.bicep sampleClusterLayout), shared with main.bicep.')
param layout SampleLayout

@description('Address space of the sample virtual network (pg_hba.conf admits it).')
param virtualNetworkPrefix string

@description('The nodes\' NICs (sample-network.bicep), in layout.nodes order.')
param nicIds string[]

@description('VM size of the three nodes.')
param vmSize string

@description('Availability zones to spread the nodes over (node i goes to zones[i mod n]); empty = an availability set.')
param zones string[]

@description('Admin user name on the VMs (SSH key login only).')
param adminUsername string

@description('SSH public key for adminUsername.')
@minLength(1)
param sshPublicKey string

@description('PostgreSQL role used for streaming replication.')
param replicationUser string

@description('Password of the "postgres" database role (the app\'s admin login), written into Key Vault as adminPasswordSecretName.')
@secure()
@minLength(12)
param postgresAdminPassword string

@description('Password of the replication role, written into Key Vault as replicationPasswordSecretName.')
@secure()
@minLength(12)
param replicationPassword string

@description('The deployment\'s Key Vault (RBAC), in this resource group: the passwords are written there, and the VMs read them from there at boot.')
param keyVaultName string

@description('That vault\'s URI (https://<name>.vault.azure.net/), which the VMs read the secrets from.')
param keyVaultUri string

@description('Key Vault secret holding the admin password (the configuration\'s postgres.adminPasswordSecret).')
param adminPasswordSecretName string

@description('Key Vault secret holding the replication password (the configuration\'s postgres.replicationPasswordSecret).')
param replicationPasswordSecretName string

@description('The cluster\'s name in the app\'s configuration (the agent sends it with every request).')
param clusterName string

@description('The Function App\'s base URL, https://<default host name>, that the agent calls.')
param appUrl string

@description('The audience the agents request their VM identity tokens for: the app\'s NODE_AUTH_AUDIENCE (main.bicep nodeAuthAudience, required with the sample).')
@minLength(1)
param nodeAuthAudience string

param tags Tags = {}

var cloudInitTemplate = loadTextContent('cloud-init/pg-node.yaml')
var primaryAddress = layout.nodes[0].address
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// The files cloud-init writes: the agent's, next to each other as install.sh expects (systemd/
// included; its README left out), and the boot script that reads a password from Key Vault (it
// sources the agent's lib.sh). Embedded at build time (paths relative to this file) as text, each
// line indented for its YAML block (`content: |`): custom data is limited to 64 KB, these files
// take most of it and base64 would need a third more (test/unit/bicep checks the size). Bicep
// keeps each text in a plain variable that replace() only references, so no ARM expression
// carries it (an expression is limited to 24,576 characters).
var blockIndent = '\n      '
var shippedFiles = {
  '{{AGENT_INSTALL_SH}}': replace(loadTextContent('../../agent/install.sh'), '\n', blockIndent)
  '{{AGENT_LIB_SH}}': replace(loadTextContent('../../agent/lib.sh'), '\n', blockIndent)
  '{{AGENT_SCHEDULED_EVENTS_SH}}': replace(loadTextContent('../../agent/scheduled-events-agent.sh'), '\n', blockIndent)
  '{{AGENT_SHUTDOWN_HOOK_SH}}': replace(loadTextContent('../../agent/shutdown-hook.sh'), '\n', blockIndent)
  '{{AGENT_SCHEDULED_EVENTS_UNIT}}': replace(loadTextContent('../../agent/systemd/pg-failover-scheduled-events.service'), '\n', blockIndent)
  '{{AGENT_SHUTDOWN_HOOK_UNIT}}': replace(loadTextContent('../../agent/systemd/pg-failover-shutdown-hook.service'), '\n', blockIndent)
  '{{FETCH_SECRET_SH}}': replace(loadTextContent('cloud-init/fetch-secret.sh'), '\n', blockIndent)
}

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: keyVaultName
}

// The passwords, from the secure parameters, where the app (and the VMs) read them.
resource adminPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: vault
  name: adminPasswordSecretName
  tags: tags
  properties: {
    value: postgresAdminPassword
  }
}

resource replicationPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: vault
  name: replicationPasswordSecretName
  tags: tags
  properties: {
    value: replicationPassword
  }
}

resource availabilitySet 'Microsoft.Compute/availabilitySets@2025-04-01' = if (empty(zones)) {
  name: layout.availabilitySetName
  location: location
  tags: tags
  sku: { name: 'Aligned' }
  properties: {
    platformFaultDomainCount: 2
    platformUpdateDomainCount: 5
  }
}

resource vms 'Microsoft.Compute/virtualMachines@2025-04-01' = [
  for (node, i) in layout.nodes: {
    name: node.vmName
    location: location
    tags: tags
    zones: empty(zones) ? null : [zones[i % length(zones)]]
    identity: { type: 'SystemAssigned' }
    properties: {
      availabilitySet: empty(zones) ? { id: availabilitySet.id } : null
      hardwareProfile: { vmSize: vmSize }
      securityProfile: {
        securityType: 'TrustedLaunch'
        uefiSettings: { secureBootEnabled: true, vTpmEnabled: true }
      }
      storageProfile: {
        imageReference: {
          publisher: 'Debian'
          offer: 'debian-12'
          sku: '12-gen2'
          version: 'latest'
        }
        osDisk: {
          name: '${node.vmName}-osdisk'
          createOption: 'FromImage'
          deleteOption: 'Delete'
          diskSizeGB: 64
          managedDisk: { storageAccountType: 'Premium_LRS' }
        }
      }
      osProfile: {
        computerName: node.vmName
        adminUsername: adminUsername
        // cloud-init user data: every {{PLACEHOLDER}} of pg-node.yaml replaced. No secret: the
        // vault's URL and the secrets' NAMES only.
        customData: base64(reduce(
          items(union(shippedFiles, {
            '{{ROLE}}': i == 0 ? 'primary' : 'standby'
            '{{NODE_NAME}}': node.name
            '{{VM_NAME}}': node.vmName
            '{{PRIMARY_ADDRESS}}': primaryAddress
            '{{NETWORK_CIDR}}': virtualNetworkPrefix
            '{{REPLICATION_USER}}': replicationUser
            '{{KEY_VAULT_URL}}': keyVaultUri
            '{{REPLICATION_PASSWORD_SECRET}}': replicationPasswordSecretName
            '{{ADMIN_PASSWORD_SECRET}}': adminPasswordSecretName
            '{{CLUSTER_NAME}}': clusterName
            '{{APP_URL}}': appUrl
            '{{NODE_AUTH_AUDIENCE}}': nodeAuthAudience
          })),
          cloudInitTemplate,
          (text, placeholder) => replace(text, placeholder.key, placeholder.value)
        ))
        linuxConfiguration: {
          disablePasswordAuthentication: true
          provisionVMAgent: true
          ssh: {
            publicKeys: [
              {
                path: '/home/${adminUsername}/.ssh/authorized_keys'
                keyData: sshPublicKey
              }
            ]
          }
        }
      }
      networkProfile: {
        networkInterfaces: [
          {
            id: nicIds[i]
            properties: { primary: true, deleteOption: 'Delete' }
          }
        ]
      }
      diagnosticsProfile: {
        bootDiagnostics: { enabled: true }
      }
    }
    // The secrets exist before a VM boots and asks for them.
    dependsOn: [adminPasswordSecret, replicationPasswordSecret]
  }
]

// Each VM's identity may read exactly the secrets it needs, each grant scoped to its secret: the
// replication password on every node (.pgpass: any node may become a standby), the admin password
// on the first primary only (it sets the role's password once, at setup).
resource replicationPasswordReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (node, i) in layout.nodes: {
    name: guid(replicationPasswordSecret.id, vms[i].id, keyVaultSecretsUser)
    scope: replicationPasswordSecret
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
      principalId: vms[i].identity.principalId
      principalType: 'ServicePrincipal'
      description: 'pg-failover sample: ${node.vmName} reads the replication password at boot'
    }
  }
]

resource adminPasswordReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(adminPasswordSecret.id, vms[0].id, keyVaultSecretsUser)
  scope: adminPasswordSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: vms[0].identity.principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover sample: ${layout.nodes[0].vmName} sets the admin password at setup'
  }
}

output vmIds string[] = [for (node, i) in layout.nodes: vms[i].id]
