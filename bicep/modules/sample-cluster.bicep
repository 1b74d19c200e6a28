// The three PostgreSQL VMs of the sample cluster (main.bicep, deploySampleCluster=true):
// Debian 12 spread over availability zones (or an availability set where the region has no
// zones), PostgreSQL 15 set up by cloud-init (node 1 primary, nodes 2-3 streaming standbys) and
// the pg-failover agent (agent/ in the repository: scheduled-events forwarder and shutdown hook)
// installed by cloud-init too, pointed at the Function App with its function key. The network
// (VNet, load balancer, the NICs these VMs use) is sample-network.bicep.
//
// Deployed AFTER the Function App (main.bicep passes its URL and key), because the VMs' custom
// data cannot change once they exist; the network module is deployed BEFORE the app.
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

@description('Password of the "postgres" database role (the app\'s admin login). Seed the same value into Key Vault.')
@secure()
@minLength(12)
param postgresAdminPassword string

@description('Password of the replication role. Seed the same value into Key Vault.')
@secure()
@minLength(12)
param replicationPassword string

@description('The cluster\'s name in the app\'s configuration (the agent sends it with every request).')
param clusterName string

@description('The Function App\'s base URL, https://<default host name>, that the agent calls.')
param appUrl string

@description('A function key of the app (its default host key): the agent authenticates with it. Only written into cloud-init (a root-only file, deleted once installed).')
@secure()
@minLength(1)
param functionKey string

param tags Tags = {}

var cloudInitTemplate = loadTextContent('cloud-init/pg-node.yaml')
var primaryAddress = layout.nodes[0].address

// The agent's files, embedded at build time (paths relative to this file) and written by
// cloud-init next to each other, as install.sh expects (systemd/ included). The agent's README is
// left out: custom data is limited to 64 KB and these files already take most of it
// (test/unit/bicep checks the size). Each is a plain string variable, so no ARM expression
// carries its text (an expression is limited to 24,576 characters).
var agentFiles = {
  '{{AGENT_INSTALL_SH_B64}}': loadFileAsBase64('../../agent/install.sh')
  '{{AGENT_LIB_SH_B64}}': loadFileAsBase64('../../agent/lib.sh')
  '{{AGENT_SCHEDULED_EVENTS_SH_B64}}': loadFileAsBase64('../../agent/scheduled-events-agent.sh')
  '{{AGENT_SHUTDOWN_HOOK_SH_B64}}': loadFileAsBase64('../../agent/shutdown-hook.sh')
  '{{AGENT_SCHEDULED_EVENTS_UNIT_B64}}': loadFileAsBase64('../../agent/systemd/pg-failover-scheduled-events.service')
  '{{AGENT_SHUTDOWN_HOOK_UNIT_B64}}': loadFileAsBase64('../../agent/systemd/pg-failover-shutdown-hook.service')
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
        // cloud-init user data: every {{PLACEHOLDER}} of pg-node.yaml replaced. It carries the two
        // passwords and the function key (custom data is never returned by ARM).
        customData: base64(reduce(
          items(union(agentFiles, {
            '{{ROLE}}': i == 0 ? 'primary' : 'standby'
            '{{NODE_NAME}}': node.name
            '{{VM_NAME}}': node.vmName
            '{{PRIMARY_ADDRESS}}': primaryAddress
            '{{NETWORK_CIDR}}': virtualNetworkPrefix
            '{{REPLICATION_USER}}': replicationUser
            '{{REPLICATION_PASSWORD_B64}}': base64(replicationPassword)
            '{{ADMIN_PASSWORD_B64}}': base64(postgresAdminPassword)
            '{{CLUSTER_NAME}}': clusterName
            '{{APP_URL}}': appUrl
            '{{FUNCTION_KEY_B64}}': base64(functionKey)
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
  }
]

output vmIds string[] = [for (node, i) in layout.nodes: vms[i].id]
