/**
 * What the deployment (main.bicep) promises the app: the app settings it sets and the Azure
 * roles it grants the app's identity. test/unit/bicep checks the compiled templates against this
 * list, so a setting the code starts to read (or a role it starts to need) is added here and the
 * tests then demand it from the templates.
 */

/** App settings the deployment sets on the Function App (the code and the Functions host read them). */
export const DEPLOYED_APP_SETTINGS = {
  /** The cluster configuration JSON (src/config/load.ts CONFIG_SETTING). */
  config: 'PG_FAILOVER_CONFIG',
  /** https://<vault>.vault.azure.net/ holding the admin and replication passwords. */
  keyVaultUrl: 'KEY_VAULT_URL',
  /** Client id of the user-assigned identity; DefaultAzureCredential picks it up. */
  azureClientId: 'AZURE_CLIENT_ID',
  /** Durable Functions task hub (host.json: %TASK_HUB_NAME%). */
  taskHubName: 'TASK_HUB_NAME',
  /** Identity-based host storage: account name, credential type, identity client id. */
  storageAccountName: 'AzureWebJobsStorage__accountName',
  storageCredential: 'AzureWebJobsStorage__credential',
  storageClientId: 'AzureWebJobsStorage__clientId',
  appInsightsConnectionString: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
  /** ClientId=<id>;Authorization=AAD — telemetry sent with the identity (local auth is off). */
  appInsightsAuthentication: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  /** The audience of the VM identity tokens the node routes accept (main.bicep nodeAuthAudience). */
  nodeAuthAudience: 'NODE_AUTH_AUDIENCE',
  /** The tenant that issues them: the deployment's (subscription().tenantId). */
  nodeAuthTenantId: 'NODE_AUTH_TENANT_ID',
} as const;

/**
 * Settings the deployment must NOT set: Flex Consumption takes the runtime from
 * functionAppConfig and rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION; the
 * others are key-based connections or belong to other plans.
 */
export const FORBIDDEN_APP_SETTINGS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'AzureWebJobsStorage',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
] as const;

/** Built-in role definition ids (checked against Azure's built-in roles reference). */
export const ROLE_DEFINITION_IDS = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402',
} as const;

/** The deployment's own custom role (modules/failover-role.bicep, roles/failover-operator.json), by the parameter the assigning modules take. */
export const FAILOVER_ROLE = "parameters('roleDefinitionName')";

/** Module of main.bicep → the roles it can grant and the resource type it grants them on
 *  (which of them a deployment grants may depend on parameters: see DURABLE_BACKENDS). */
export const GRANTED_ROLES: Record<string, { scope: string; roles: string[] }> = {
  vmRoles: { scope: 'Microsoft.Compute/virtualMachines', roles: [FAILOVER_ROLE] },
  nicRoles: { scope: 'Microsoft.Network/networkInterfaces', roles: [FAILOVER_ROLE] },
  loadBalancerRoles: { scope: 'Microsoft.Network/loadBalancers', roles: [FAILOVER_ROLE] },
  subnetRoles: { scope: 'Microsoft.Network/virtualNetworks/subnets', roles: [FAILOVER_ROLE] },
  virtualNetworkRoles: { scope: 'Microsoft.Network/virtualNetworks', roles: [FAILOVER_ROLE] },
  // Secrets Officer instead of User when node agents enroll through the app (the sample in probe mode).
  keyVault: { scope: 'Microsoft.KeyVault/vaults', roles: [ROLE_DEFINITION_IDS.keyVaultSecretsUser, ROLE_DEFINITION_IDS.keyVaultSecretsOfficer].sort() },
  storage: {
    scope: 'Microsoft.Storage/storageAccounts',
    roles: [ROLE_DEFINITION_IDS.storageBlobDataOwner, ROLE_DEFINITION_IDS.storageQueueDataContributor, ROLE_DEFINITION_IDS.storageTableDataContributor].sort(),
  },
  monitoring: { scope: 'Microsoft.Insights/components', roles: [ROLE_DEFINITION_IDS.monitoringMetricsPublisher] },
  durableTaskScheduler: { scope: 'Microsoft.DurableTask/schedulers/taskHubs', roles: [ROLE_DEFINITION_IDS.durableTaskDataContributor] },
};

/** host.json path extensions.durableTask.storageProvider.<key> as a Functions host app-setting override. */
const storageProviderOverride = (key: string) => `AzureFunctionsJobHost__extensions__durableTask__storageProvider__${key}`;

/**
 * The Durable Functions backends main.bicep offers (parameter durableBackend). host.json names the
 * Durable Task Scheduler provider; the AzureStorage choice overrides it with app settings
 * (AzureFunctionsJobHost__path__to__setting), so one host.json serves both.
 */
export const DURABLE_BACKENDS = {
  parameter: 'durableBackend',
  default: 'DurableTaskScheduler',
  DurableTaskScheduler: {
    /** What host.json's extensions.durableTask.storageProvider says. */
    hostJsonStorageProvider: { type: 'azureManaged', connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' },
    /** The app setting holding `Endpoint=<scheduler endpoint>;Authentication=ManagedIdentity;ClientID=<client id>`. */
    connectionSetting: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
    /** Host storage (locks, keys, timers) and the deployment package only. */
    storageRoles: [ROLE_DEFINITION_IDS.storageBlobDataOwner],
  },
  AzureStorage: {
    /** App settings that turn host.json's provider into Azure Storage on the identity-based AzureWebJobsStorage connection. */
    hostJsonOverrides: {
      [storageProviderOverride('type')]: 'AzureStorage',
      [storageProviderOverride('connectionStringName')]: 'AzureWebJobsStorage',
      /** The provider's idle back-off would otherwise let a queued step wait up to 30 s. */
      [storageProviderOverride('maxQueuePollingInterval')]: '00:00:01',
    } as Record<string, string>,
    /** The task hub's queues and tables live in the storage account too. */
    storageRoles: [ROLE_DEFINITION_IDS.storageBlobDataOwner, ROLE_DEFINITION_IDS.storageQueueDataContributor, ROLE_DEFINITION_IDS.storageTableDataContributor].sort(),
  },
} as const;

/** Flex Consumption runtime and scale settings main.bicep gives the app. */
export const FLEX_RUNTIME = {
  nodeVersions: ['22', '24'],
  defaultNodeVersion: '22',
  /** Always-ready groups: Durable Functions triggers and HTTP triggers. */
  alwaysReadyGroups: ['durable', 'http'],
  /** The lowest maximum instance count Flex Consumption accepts (per scale group; always-ready instances come on top). */
  minimumMaximumInstanceCount: 1,
} as const;

/**
 * The Event Grid subscription main.bicep makes with deployEventSubscription=true (one system topic
 * per resource group of cluster VMs): the app's Event Grid trigger (src/functions/event-grid-vm-power.ts)
 * and the ARM actions it acts on (src/domain/scheduled-events-power-actions.ts VM_POWER_ACTIONS).
 */
export const VM_POWER_EVENT_SUBSCRIPTION = {
  functionName: 'vmPowerEvents',
  eventType: 'Microsoft.Resources.ResourceActionSuccess',
  operationNames: [
    'Microsoft.Compute/virtualMachines/powerOff/action',
    'Microsoft.Compute/virtualMachines/deallocate/action',
    'Microsoft.Compute/virtualMachines/restart/action',
  ],
} as const;

/**
 * The pg-failover agent as the sample cluster's cloud-init installs it (bicep/modules/cloud-init/pg-node.yaml):
 * agent/ but its README, packed into `bundle` (scripts/agent-bundle.ts: as text it would not fit
 * the 64 KB of custom data), unpacked into `sourceDir` and installed from there. The agent
 * authenticates with the VM's managed identity (install.sh --app-resource): no key reaches the VMs.
 */
export const SAMPLE_AGENT_INSTALL = {
  bundle: '/usr/local/src/pg-failover-agent.tar.xz',
  sourceDir: '/usr/local/src/pg-failover-agent',
  pgService: 'postgresql@15-main.service',
  /** Probe mode: the image's certificate the node agent serves its steps with (and enrolls), and its key (group ssl-cert, which postgres is in). */
  snakeoil: { certificate: '/etc/ssl/certs/ssl-cert-snakeoil.pem', key: '/etc/ssl/private/ssl-cert-snakeoil.key' },
  /** Azure's limit on a VM's custom data (decoded). */
  customDataMaxBytes: 65535,
} as const;

/**
 * The sample cluster's passwords: written into the deployment's Key Vault from the secure
 * parameters (modules/sample-cluster.bicep), read at boot by each VM with its system-assigned
 * identity (modules/cloud-init/fetch-secret.sh, installed as `fetchScript`), which has Key Vault
 * Secrets User on exactly the secrets its node reads. The custom data holds the vault's URL and
 * these names, no secret.
 */
export const SAMPLE_SECRETS = {
  adminPassword: 'pg-admin-password',
  replicationPassword: 'pg-replication-password',
  /** The replication password on every node (.pgpass: any node may become a standby); the admin password on the first primary only (set once, at setup). */
  readByNode: {
    pg1: ['pg-replication-password'],
    pg2: ['pg-replication-password'],
    pg3: ['pg-replication-password'],
  } as Record<string, string[]>,
  role: ROLE_DEFINITION_IDS.keyVaultSecretsUser,
  fetchScript: '/usr/local/sbin/pg-sample-fetch-secret',
  /** Where the setup script has the passwords written (tmpfs), removed before it goes on. */
  runDir: '/run/pg-sample',
} as const;
