// A small PostgreSQL cluster to try azure-pg-failover on (deployed when main.bicep's
// deploySampleCluster is true): a VNet with a database subnet (NSG, NAT gateway for package
// downloads) and a Functions subnet delegated to Microsoft.App/environments; three Debian 12
// VMs spread over availability zones (or an availability set where the region has no zones),
// PostgreSQL 15 set up by cloud-init (node 1 primary, nodes 2-3 streaming standbys); and the
// internal Standard load balancer with a write and a read frontend (pools pg-write / pg-read).
//
// Re-deploying this module resets the pools to their initial members (node 1 writes); after
// a switchover, deploy main.bicep with deploySampleCluster=false (README: "After the first
// deployment").
import { SampleLayout, Tags } from '../types.bicep'

metadata description = 'Sample 3-node PostgreSQL 15 cluster behind an internal load balancer.'

@description('Azure region.')
param location string

@description('Names and addresses (types.bicep sampleClusterLayout), shared with main.bicep.')
param layout SampleLayout

@description('Address space of the sample virtual network.')
param virtualNetworkPrefix string

@description('Database subnet (VMs and load balancer frontends).')
param databaseSubnetPrefix string

@description('Functions subnet (VNet integration of the Flex Consumption app).')
param functionsSubnetPrefix string

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

param tags Tags = {}

var cloudInitTemplate = loadTextContent('cloud-init/pg-node.yaml')
var primaryAddress = layout.nodes[0].address

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2025-01-01' = {
  name: layout.natPublicIpName
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

// The VMs have no public address and an internal load balancer gives no outbound access:
// apt needs a way out.
resource natGateway 'Microsoft.Network/natGateways@2025-01-01' = {
  name: layout.natGatewayName
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [{ id: natPublicIp.id }]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2025-01-01' = {
  name: layout.networkSecurityGroupName
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-postgres-from-vnet'
        properties: {
          description: 'Clients, the Functions app (VNet integration) and replication between nodes.'
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: databaseSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        name: 'allow-postgres-lb-probe'
        properties: {
          description: 'Load balancer health probes (168.63.129.16).'
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'AzureLoadBalancer'
          sourcePortRange: '*'
          destinationAddressPrefix: databaseSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        name: 'deny-other-inbound'
        properties: {
          description: 'Nothing else reaches the database subnet (use Run Command or Bastion to administer).'
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

// Subnets inline (not as child resources), so a re-deployment never tries to remove them.
// subnets[0] is the database subnet, subnets[1] the Functions subnet.
resource vnet 'Microsoft.Network/virtualNetworks@2025-01-01' = {
  name: layout.virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [virtualNetworkPrefix] }
    subnets: [
      {
        name: layout.databaseSubnetName
        properties: {
          addressPrefix: databaseSubnetPrefix
          networkSecurityGroup: { id: nsg.id }
          natGateway: { id: natGateway.id }
          defaultOutboundAccess: false
        }
      }
      {
        name: layout.functionsSubnetName
        properties: {
          addressPrefix: functionsSubnetPrefix
          defaultOutboundAccess: false
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
    ]
  }
}

var databaseSubnetId = vnet.properties.subnets[0].id

resource loadBalancer 'Microsoft.Network/loadBalancers@2025-01-01' = {
  name: layout.loadBalancerName
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Regional' }
  properties: {
    frontendIPConfigurations: [
      {
        name: layout.writeFrontendName
        zones: empty(zones) ? null : zones
        properties: {
          privateIPAllocationMethod: 'Static'
          privateIPAddress: layout.writeFrontendAddress
          privateIPAddressVersion: 'IPv4'
          subnet: { id: databaseSubnetId }
        }
      }
      {
        name: layout.readFrontendName
        zones: empty(zones) ? null : zones
        properties: {
          privateIPAllocationMethod: 'Static'
          privateIPAddress: layout.readFrontendAddress
          privateIPAddressVersion: 'IPv4'
          subnet: { id: databaseSubnetId }
        }
      }
    ]
    backendAddressPools: [
      { name: layout.writePool }
      { name: layout.readPool }
    ]
    probes: [
      {
        name: 'pg-write-probe'
        properties: { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }
      }
      {
        name: 'pg-read-probe'
        properties: { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }
      }
    ]
    loadBalancingRules: [
      {
        name: 'pg-write-5432'
        properties: {
          frontendIPConfiguration: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/frontendIPConfigurations',
              layout.loadBalancerName,
              layout.writeFrontendName
            )
          }
          backendAddressPool: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/backendAddressPools',
              layout.loadBalancerName,
              layout.writePool
            )
          }
          probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', layout.loadBalancerName, 'pg-write-probe') }
          protocol: 'Tcp'
          frontendPort: 5432
          backendPort: 5432
          idleTimeoutInMinutes: 30
          enableTcpReset: true
          enableFloatingIP: false
          disableOutboundSnat: true
          loadDistribution: 'Default'
        }
      }
      {
        name: 'pg-read-5432'
        properties: {
          frontendIPConfiguration: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/frontendIPConfigurations',
              layout.loadBalancerName,
              layout.readFrontendName
            )
          }
          backendAddressPool: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/backendAddressPools',
              layout.loadBalancerName,
              layout.readPool
            )
          }
          probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', layout.loadBalancerName, 'pg-read-probe') }
          protocol: 'Tcp'
          frontendPort: 5432
          backendPort: 5432
          idleTimeoutInMinutes: 30
          enableTcpReset: true
          enableFloatingIP: false
          disableOutboundSnat: true
          loadDistribution: 'Default'
        }
      }
    ]
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

// Initial pool membership: node 1 (the primary) in the write pool, the standbys in the read pool.
// From then on the app owns membership (it edits these NICs' IP configurations).
resource nics 'Microsoft.Network/networkInterfaces@2025-01-01' = [
  for (node, i) in layout.nodes: {
    name: node.nicName
    location: location
    tags: tags
    properties: {
      ipConfigurations: [
        {
          name: 'ipconfig1'
          properties: {
            primary: true
            privateIPAllocationMethod: 'Static'
            privateIPAddress: node.address
            subnet: { id: databaseSubnetId }
            loadBalancerBackendAddressPools: [
              { id: loadBalancer.properties.backendAddressPools[i == 0 ? 0 : 1].id }
            ]
          }
        }
      ]
    }
  }
]

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
        // cloud-init user data; carries the two passwords (custom data is never returned by ARM).
        customData: base64(replace(
          replace(
            replace(
              replace(
                replace(
                  replace(
                    replace(cloudInitTemplate, '{{ROLE}}', i == 0 ? 'primary' : 'standby'),
                    '{{NODE_NAME}}',
                    node.name
                  ),
                  '{{PRIMARY_ADDRESS}}',
                  primaryAddress
                ),
                '{{NETWORK_CIDR}}',
                virtualNetworkPrefix
              ),
              '{{REPLICATION_USER}}',
              replicationUser
            ),
            '{{REPLICATION_PASSWORD_B64}}',
            base64(replicationPassword)
          ),
          '{{ADMIN_PASSWORD_B64}}',
          base64(postgresAdminPassword)
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
            id: nics[i].id
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

output virtualNetworkId string = vnet.id
output databaseSubnetId string = databaseSubnetId
output functionsSubnetId string = vnet.properties.subnets[1].id
output loadBalancerId string = loadBalancer.id
output writeFrontendAddress string = layout.writeFrontendAddress
output readFrontendAddress string = layout.readFrontendAddress
output vmIds string[] = [for (node, i) in layout.nodes: vms[i].id]
