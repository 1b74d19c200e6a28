// The three PostgreSQL VMs of the sample cluster (main.bicep, deploySampleCluster=true):
// Debian 12 spread over availability zones (or an availability set where the region has no
// zones), PostgreSQL 15 set up by cloud-init (node 1 primary, nodes 2-3 streaming standbys) and
// the pg-failover agent (agent/ in the repository: scheduled-events forwarder, shutdown hook and,
// in probe mode, the node agent answering the load balancer's probes) installed by cloud-init
// too, pointed at the Function App. The network (VNet, load balancer, the NICs these VMs use) is
// sample-network.bicep.
//
// No secret reaches a VM's custom data. Each VM has a system-assigned identity: its agent calls
// the app with that identity's tokens (for nodeAuthAudience), and at boot it reads the
// replication password this module writes into Key Vault, with Key Vault Secrets User on that one
// secret (granted once the VMs, and so their identities, exist; the boot script waits for the
// grant). No VM may read the admin password: a local user could take the VM's token from the
// metadata service and read it for as long as the grant lasts. The deployment sets it on pg1
// itself, with a managed Run Command once cloud-init is done (adminPasswordCommand below).
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

@description('The database subnet (probe mode: each node\'s read address gets its prefix length).')
param databaseSubnetPrefix string

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

@description('Password of the "postgres" database role (the app\'s admin login), written into Key Vault as adminPasswordSecretName and set on pg1 by a managed Run Command (a protected parameter).')
@secure()
@minLength(12)
param postgresAdminPassword string

@description('Password of the replication role, written into Key Vault as replicationPasswordSecretName.')
@secure()
@minLength(12)
param replicationPassword string

@description('The deployment\'s Key Vault (RBAC), in this resource group: the passwords are written there, and the VMs read the replication password from there at boot.')
param keyVaultName string

@description('That vault\'s URI (https://<name>.vault.azure.net/), which the VMs read the replication password from.')
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

@description('How the load balancer finds the writer (sample-network.bicep): in probe mode each node runs the node agent and gets its read address.')
@allowed(['probe', 'pools'])
param loadBalancing string

param tags Tags = {}

var cloudInitTemplate = loadTextContent('cloud-init/pg-node.yaml')
var primaryAddress = layout.nodes[0].address
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// The files cloud-init writes from the repository: the agent, packed (scripts/agent-bundle.ts)
// because as text it would not fit the 64 KB of custom data, and the boot script that reads a
// password from Key Vault (it sources the agent's lib.sh), as text, each line indented for its
// YAML block (`content: |`). Embedded at build time (paths relative to this file); test/unit/bicep
// checks the size. Bicep keeps each in a plain variable that replace() only references, so no ARM
// expression carries it (an expression is limited to 24,576 characters).
var blockIndent = '\n      '
var shippedFiles = {
  '{{AGENT_BUNDLE}}': loadFileAsBase64('cloud-init/agent-bundle.tar.xz')
  '{{FETCH_SECRET_SH}}': replace(loadTextContent('cloud-init/fetch-secret.sh'), '\n', blockIndent)
}
var probeMode = loadBalancing == 'probe'
var snakeoil = {
  certificate: '/etc/ssl/certs/ssl-cert-snakeoil.pem'
  key: '/etc/ssl/private/ssl-cert-snakeoil.key'
}
var databaseSubnetPrefixLength = split(databaseSubnetPrefix, '/')[1]

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
        // vault's URL and the replication secret's NAME only.
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
            '{{CLUSTER_NAME}}': clusterName
            '{{APP_URL}}': appUrl
            '{{NODE_AUTH_AUDIENCE}}': nodeAuthAudience
            // Probe mode: more words for the runcmd lines (flow sequences), none in pools mode.
            '{{READ_ADDRESS_ARGUMENT}}': probeMode ? ', \'${node.readAddress}/${databaseSubnetPrefixLength}\'' : ''
            // The node steps over HTTPS with the image's snakeoil certificate (postgres reads its key
            // through the ssl-cert group), enrolled with the step key install.sh makes.
            '{{NODE_AGENT_ARGUMENTS}}': probeMode
              ? ', --node-address, \'${node.address}\', --peers, \'${node.agentPeers}\', --probe-port, \'${layout.agentPort}\', --steps-port, \'${layout.stepsPort}\', --steps-tls-cert, ${snakeoil.certificate}, --steps-tls-key, ${snakeoil.key}, --enroll-steps'
              : ''
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
    // The secret exists before a VM boots and asks for it.
    dependsOn: [replicationPasswordSecret]
  }
]

// Each VM's identity may read the replication password, and nothing else, each grant scoped to
// that secret: every node writes it into .pgpass (any node may become a standby). Any local user
// can read it too (the metadata service gives any process the VM's token): it lets one stream
// the data, which is why the replication role is no superuser.
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

// The admin password, set on the first primary once cloud-init has set PostgreSQL up (the
// "postgres" role replicates to the standbys). Run as root by the managed Run Command; the
// password arrives as the environment variable PG_ADMIN_PASSWORD (a protected parameter, which
// Azure never returns) and reaches psql the same way (\getenv): never a command line, a file or a
// log line. A later deployment that finds pg1 a standby (after a failover) leaves the role alone.
var setAdminPasswordScript = '''
#!/bin/bash
set -euo pipefail
cd /
result() { echo "PG_SAMPLE_ADMIN_PASSWORD_RESULT=$*"; }
if [[ -z ${PG_ADMIN_PASSWORD-} ]]; then
  result 'failed reason=no-PG_ADMIN_PASSWORD'
  exit 1
fi
# Kept for the one psql that needs it (below), out of every other program's environment.
export -n PG_ADMIN_PASSWORD
# cloud-init runs pg-sample-setup; it answers 2 (cloud-init 23.4+) for done with warnings.
status=0
cloud-init status --wait >/dev/null || status=$?
if ((status != 0 && status != 2)); then
  cloud-init status --long || true
  result "failed reason=cloud-init-status-$status: the node's setup failed (PG_SAMPLE_SETUP_RESULT in /var/log/cloud-init-output.log)"
  exit 1
fi
if ! recovery=$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()'); then
  result 'failed reason=postgresql-not-answering'
  exit 1
fi
if [[ $recovery != f ]]; then
  result "skipped reason=not-the-primary: the role replicates from the primary, set its password there"
  exit 0
fi
# Terse errors (no statement text echoed) and no statement logged by the server.
if ! PG_ADMIN_PASSWORD=$PG_ADMIN_PASSWORD runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET log_min_duration_statement = -1;
\getenv pw PG_ADMIN_PASSWORD
ALTER ROLE postgres WITH PASSWORD :'pw';
SQL
then
  result 'failed reason=alter-role-failed'
  exit 1
fi
unset PG_ADMIN_PASSWORD
result ok
'''

// Managed Run Command, a child resource of the VM: properties.source.script, protectedParameters
// as [{ name, value }], treatFailureAsDeploymentFailure (learn.microsoft.com/azure/templates/
// microsoft.compute/virtualmachines/runcommands). On Linux each parameter reaches the script as
// an environment variable of its name (../../src/adapters/azure/vm-commands.ts).
resource adminPasswordCommand 'Microsoft.Compute/virtualMachines/runCommands@2025-04-01' = {
  parent: vms[0]
  // Not pgfo-*: the app's sweep of its own abandoned runs leaves this one alone.
  name: 'pg-sample-admin-password'
  location: location
  tags: tags
  properties: {
    source: { script: setAdminPasswordScript }
    protectedParameters: [
      { name: 'PG_ADMIN_PASSWORD', value: postgresAdminPassword }
    ]
    asyncExecution: false
    // A failed setup or password fails the deployment rather than leave the app locked out.
    treatFailureAsDeploymentFailure: true
    // cloud-init: packages, then up to 20 minutes waiting for the replication password's grant.
    timeoutInSeconds: 3600
  }
}

output vmIds string[] = [for (node, i) in layout.nodes: vms[i].id]
