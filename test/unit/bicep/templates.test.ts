/**
 * The deployment, checked on the ARM JSON the Bicep CLI compiles from bicep/ (built once, into a
 * temp dir, by the same function `npm run build:bicep` uses). Skipped with a printed reason only
 * when no Bicep CLI can be found or restored.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEPLOYED_APP_SETTINGS, FORBIDDEN_APP_SETTINGS, GRANTED_ROLES } from '../../../bicep/contract';
import { CONFIG_SETTING, parseConfig } from '../../../src/config/load';
import { BICEP_SOURCE_DIR, BuildResult, formatDiagnostic } from '../../../scripts/bicep/build';
import {
  allResources,
  ArmResource,
  buildIntoTemp,
  describeWithBicep,
  Json,
  JsonObject,
  Located,
  moduleOf,
  nestedTemplate,
  ofType,
  readTemplate,
  resourcesOf,
  roleGuids,
  scopeType,
  Template,
} from './arm';
import { TemplateEvaluator } from './arm-eval';

/** Roles no part of the deployment may grant. */
const BROAD_ROLES = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  storageAccountContributor: '17d1049b-9a84-46fb-8f53-869881c3d3ab',
};
const EXPECTED_ROLES = GRANTED_ROLES;
const REQUIRED_SETTINGS: string[] = Object.values(DEPLOYED_APP_SETTINGS);
const FORBIDDEN_SETTINGS: readonly string[] = FORBIDDEN_APP_SETTINGS;

const props = (resource: ArmResource | undefined): JsonObject => (resource?.properties ?? {}) as JsonObject;
const one = (found: Located[], what: string): Located => {
  expect(found.map((l) => l.symbol)).toHaveLength(1);
  if (!found[0]) throw new Error(`no ${what}`);
  return found[0];
};
const secureParameters = (template: Template): string[] =>
  Object.entries((template.parameters ?? {}) as Record<string, JsonObject>)
    .filter(([, p]) => String(p.type).toLowerCase() === 'securestring' || String(p.type).toLowerCase() === 'secureobject')
    .map(([name]) => name);

/** Every template in the tree (root and nested modules). */
const allTemplates = (root: Template): Template[] => [root, ...allResources(root).filter((l) => l.resource.type === 'Microsoft.Resources/deployments').map((l) => nestedTemplate(l.resource))];

/** The value of types.bicep's sampleClusterLayout(), as compiled into main.json. */
const sampleLayout = (template: Template): JsonObject => {
  const namespaces = template.functions as Array<{ members: Record<string, { output: { value: JsonObject } }> }>;
  const layout = namespaces.map((n) => n.members.sampleClusterLayout).find(Boolean);
  if (!layout) throw new Error('no sampleClusterLayout function in main.json');
  return layout.output.value;
};

const describeBicep = describeWithBicep();

describeBicep('the deployment templates (compiled ARM JSON)', () => {
  let build: ReturnType<typeof buildIntoTemp>;
  let result: BuildResult;
  let main: Template;
  let mainText: string;

  beforeAll(() => {
    build = buildIntoTemp();
    result = build.result;
    if (result.ok) {
      main = readTemplate(result.outputs['main.bicep']);
      mainText = readFileSync(result.outputs['main.bicep'], 'utf8');
    }
  });
  afterAll(() => build?.cleanup());

  it('builds and lints cleanly: no error, no warning', () => {
    expect({ diagnostics: result.diagnostics.map((d) => formatDiagnostic(d)), unparsed: result.unparsed, failures: result.failures }).toEqual({
      diagnostics: [],
      unparsed: [],
      failures: [],
    });
    expect(result.ok).toBe(true);
    expect(Object.keys(result.outputs)).toEqual(expect.arrayContaining(['main.bicep', join('modules', 'sample-cluster.bicep'), join('modules', 'function-app.bicep')]));
  });

  describe('least-privilege role assignments', () => {
    it('grants exactly the expected role at the expected resource type, module by module', () => {
      const assignments = ofType(main, 'Microsoft.Authorization/roleAssignments');
      const byModule: Record<string, { scope: string | undefined; roles: string[] }> = {};
      for (const a of assignments) {
        const module = a.modulePath[0] ?? '(main)';
        expect(byModule[module]).toBeUndefined(); // one assignment resource (or loop) per module
        byModule[module] = { scope: scopeType(a), roles: roleGuids(a) };
      }
      expect(byModule).toEqual(EXPECTED_ROLES);
    });

    it('assigns every role to the identity as a service principal, at a resource (never a resource group or subscription)', () => {
      const assignments = ofType(main, 'Microsoft.Authorization/roleAssignments');
      expect(assignments.length).toBeGreaterThanOrEqual(Object.keys(EXPECTED_ROLES).length);
      for (const a of assignments) {
        expect(typeof a.resource.scope).toBe('string');
        expect(String(a.resource.scope)).toMatch(/^\[resourceId\('Microsoft\./);
        expect(props(a.resource).principalType).toBe('ServicePrincipal');
        expect(props(a.resource).principalId).toBe("[parameters('principalId')]");
        for (const broad of Object.values(BROAD_ROLES)) expect(roleGuids(a)).not.toContain(broad);
      }
      // Each module receives the user-assigned identity's principal id.
      for (const module of Object.keys(EXPECTED_ROLES)) {
        const parameters = props(moduleOf(main, module)).parameters as Record<string, JsonObject>;
        expect(parameters.principalId).toEqual({ value: "[reference('identity').principalId]" });
      }
    });

    it('derives the VM, NIC, load balancer and VNet scopes from the clusterConfig parameter, one module per resource in its own subscription and resource group', () => {
      const variables = main.variables as Record<string, string>;
      expect(variables.effectiveConfig).toBeDefined();
      expect(JSON.stringify(variables.effectiveConfig)).toContain("parameters('clusterConfig').clusters");
      expect(variables.allNodes).toContain("variables('effectiveConfig').clusters");
      expect(variables.vmIds).toContain('.vmResourceId');
      expect(variables.nicIds).toContain('nicResourceId');
      expect(variables.loadBalancerIds).toContain('.loadBalancer.resourceId');
      expect(variables.ipPoolVirtualNetworkIds).toContain('virtualNetworkId');
      const loops: Record<string, string> = {
        vmRoles: 'vmIds',
        nicRoles: 'nicIds',
        loadBalancerRoles: 'loadBalancerIds',
        subnetRoles: 'subnetIds',
        virtualNetworkRoles: 'ipPoolVirtualNetworkIds',
      };
      for (const [module, variable] of Object.entries(loops)) {
        const deployment = moduleOf(main, module);
        const id = `variables('${variable}')[copyIndex()]`;
        expect((deployment.copy as JsonObject).count).toBe(`[length(variables('${variable}'))]`);
        expect(deployment.subscriptionId).toBe(`[split(${id}, '/')[2]]`);
        expect(deployment.resourceGroup).toBe(`[split(${id}, '/')[4]]`);
        // Inside, the assignment is scoped to the existing resource named by the id.
        const assignment = ofType(nestedTemplate(deployment), 'Microsoft.Authorization/roleAssignments');
        expect(assignment).toHaveLength(1);
      }
      expect(variables.subnetIds).toContain("parameters('databaseSubnetIds')");
    });

    it('names each assignment deterministically from the scope, the identity and the role', () => {
      for (const a of ofType(main, 'Microsoft.Authorization/roleAssignments')) {
        expect(String(a.resource.name)).toMatch(/^\[guid\(.*parameters\('identityId'\).*\)\]$/);
      }
    });
  });

  describe('identity-based storage', () => {
    it('has no account key, listKeys, SAS or connection string anywhere', () => {
      for (const text of [mainText, ...Object.values(result.outputs).map((f) => readFileSync(f, 'utf8'))]) {
        expect(text).not.toMatch(/AccountKey/i);
        expect(text).not.toMatch(/listKeys|listAccountSas|listServiceSas/i);
        expect(text).not.toMatch(/DefaultEndpointsProtocol/i);
      }
    });

    it('turns shared-key access off and requires TLS 1.2 over HTTPS', () => {
      const account = one(ofType(main, 'Microsoft.Storage/storageAccounts'), 'storage account');
      expect(props(account.resource)).toMatchObject({
        allowSharedKeyAccess: false,
        allowBlobPublicAccess: false,
        minimumTlsVersion: 'TLS1_2',
        supportsHttpsTrafficOnly: true,
        defaultToOAuthAuthentication: true,
      });
    });

    it('deploys the Flex package from a blob container with the user-assigned identity', () => {
      const site = one(ofType(main, 'Microsoft.Web/sites'), 'function app');
      const storage = ((props(site.resource).functionAppConfig as JsonObject).deployment as JsonObject).storage as JsonObject;
      expect(storage).toEqual({
        type: 'blobContainer',
        value: "[parameters('deploymentContainerUrl')]",
        authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: "[parameters('identityId')]" },
      });
      expect(props(moduleOf(main, 'functionApp')).parameters).toMatchObject({
        deploymentContainerUrl: { value: "[reference('storage').outputs.deploymentContainerUrl.value]" },
      });
    });
  });

  describe('the Function App', () => {
    let site: ArmResource;
    let settings: Record<string, string>;
    beforeAll(() => {
      site = one(ofType(main, 'Microsoft.Web/sites'), 'function app').resource;
      const list = (props(site).siteConfig as JsonObject).appSettings as Array<{ name: string; value: string }>;
      settings = Object.fromEntries(list.map((s) => [s.name, s.value]));
    });

    it('runs on Flex Consumption (FC1) with the Node 20 runtime', () => {
      const plan = one(ofType(main, 'Microsoft.Web/serverfarms'), 'plan').resource;
      expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      expect(props(plan).reserved).toBe(true);
      expect(site.kind).toBe('functionapp,linux');
      const config = props(site).functionAppConfig as JsonObject;
      expect(config.runtime).toEqual({ name: 'node', version: '20' });
      expect(config.scaleAndConcurrency).toEqual({ maximumInstanceCount: "[parameters('maximumInstanceCount')]", instanceMemoryMB: "[parameters('instanceMemoryMB')]" });
    });

    it('is VNet-integrated, and the subnet cannot be left empty', () => {
      expect(props(site).virtualNetworkSubnetId).toBe("[parameters('subnetId')]");
      const functionApp = moduleOf(main, 'functionApp');
      expect(nestedTemplate(functionApp).parameters).toMatchObject({ subnetId: { type: 'string', minLength: 1 } });
      expect(JSON.stringify((props(functionApp).parameters as JsonObject).subnetId)).toMatch(/sampleFunctionsSubnetId.*parameters\('functionsSubnetId'\)/);
      const subnets = ofType(main, 'Microsoft.Network/virtualNetworks')
        .flatMap((l) => (props(l.resource).subnets ?? []) as JsonObject[])
        .filter((s) => JSON.stringify(s).includes('delegations'));
      expect(JSON.stringify(subnets)).toContain('"serviceName":"Microsoft.App/environments"');
    });

    it('runs as the user-assigned identity only', () => {
      expect(site.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: { "[format('{0}', parameters('identityId'))]": {} } });
    });

    it('is HTTPS only with TLS 1.2, no FTP and no basic-auth publishing', () => {
      expect(props(site).httpsOnly).toBe(true);
      expect(props(site).siteConfig).toMatchObject({ minTlsVersion: '1.2', scmMinTlsVersion: '1.2', ftpsState: 'Disabled' });
      const policies = ofType(main, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies').map((l) => [String(l.resource.name).match(/'(ftp|scm)'/)?.[1], props(l.resource).allow]);
      expect(policies.sort()).toEqual([
        ['ftp', false],
        ['scm', false],
      ]);
    });

    it('sets every app setting the code reads, with identity-based values', () => {
    expect(DEPLOYED_APP_SETTINGS.config).toBe(CONFIG_SETTING);
      expect(Object.keys(settings)).toEqual(expect.arrayContaining(REQUIRED_SETTINGS));
      expect(settings).toMatchObject({
        [CONFIG_SETTING]: "[parameters('clusterConfigJson')]",
        KEY_VAULT_URL: "[parameters('keyVaultUri')]",
        AZURE_CLIENT_ID: "[parameters('identityClientId')]",
        TASK_HUB_NAME: "[parameters('taskHubName')]",
        AzureWebJobsStorage__accountName: "[parameters('storageAccountName')]",
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: "[parameters('identityClientId')]",
        APPLICATIONINSIGHTS_CONNECTION_STRING: "[parameters('appInsightsConnectionString')]",
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "[format('ClientId={0};Authorization=AAD', parameters('identityClientId'))]",
      });
      for (const name of FORBIDDEN_SETTINGS) expect(Object.keys(settings)).not.toContain(name);
      // What main.bicep feeds them with.
      expect(props(moduleOf(main, 'functionApp')).parameters).toMatchObject({
        clusterConfigJson: { value: "[string(variables('effectiveConfig'))]" },
        keyVaultUri: { value: "[reference('keyVault').outputs.uri.value]" },
        identityClientId: { value: "[reference('identity').clientId]" },
        storageAccountName: { value: "[reference('storage').outputs.name.value]" },
        taskHubName: { value: "[parameters('taskHubName')]" },
      });
    });

    it('sends telemetry with Entra ID only (local auth off on Application Insights)', () => {
      const component = one(ofType(main, 'Microsoft.Insights/components'), 'Application Insights').resource;
      expect(props(component)).toMatchObject({ DisableLocalAuth: true, WorkspaceResourceId: expect.stringContaining('Microsoft.OperationalInsights/workspaces') });
    });
  });

  describe('secrets', () => {
    it('creates no Key Vault secret: operators seed the passwords after deployment', () => {
      expect(ofType(main, 'Microsoft.KeyVault/vaults/secrets')).toHaveLength(0);
      const vault = one(ofType(main, 'Microsoft.KeyVault/vaults'), 'key vault').resource;
      expect(props(vault)).toMatchObject({ enableRbacAuthorization: true, enableSoftDelete: true });
      expect(props(vault).accessPolicies).toBeUndefined();
    });

    it('keeps the sample passwords in secure parameters with no default value', () => {
      expect(secureParameters(main).sort()).toEqual(['samplePostgresAdminPassword', 'sampleReplicationPassword']);
      for (const name of secureParameters(main)) expect(((main.parameters as JsonObject)[name] as JsonObject).defaultValue ?? '').toBe('');
      expect(secureParameters(nestedTemplate(moduleOf(main, 'sample'))).sort()).toEqual(['postgresAdminPassword', 'replicationPassword']);
    });

    it('never puts a secure parameter into an output, an app setting or a non-secure module parameter', () => {
      for (const template of allTemplates(main)) {
        const secure = secureParameters(template);
        const outputs = JSON.stringify(template.outputs ?? {});
        for (const name of secure) expect(outputs).not.toContain(`parameters('${name}')`);
        for (const [, resource] of resourcesOf(template)) {
          if (resource.type !== 'Microsoft.Resources/deployments') continue;
          const nested = nestedTemplate(resource);
          const nestedSecure = new Set(secureParameters(nested));
          for (const [param, value] of Object.entries((props(resource).parameters ?? {}) as JsonObject)) {
            const text = JSON.stringify(value);
            if (secure.some((name) => text.includes(`parameters('${name}')`))) expect([param, nestedSecure.has(param)]).toEqual([param, true]);
          }
        }
      }
      const settings = JSON.stringify((props(one(ofType(main, 'Microsoft.Web/sites'), 'site').resource).siteConfig as JsonObject).appSettings);
      expect(settings).not.toMatch(/password|secret|AccountKey|SharedAccessSignature/i);
    });

    it('gives the app only secret NAMES in its configuration', () => {
      const effective = JSON.stringify((main.variables as JsonObject).sampleCluster);
      expect(effective).toContain('"adminPasswordSecret":"pg-admin-password"');
      expect(effective).toContain('"replicationPasswordSecret":"pg-replication-password"');
      expect(effective).not.toMatch(/parameters\('sample\w*Password'\)/);
    });
  });

  describe('the sample cluster module', () => {
    let sample: Template;
    beforeAll(() => {
      sample = nestedTemplate(moduleOf(main, 'sample'));
    });

    it('is deployed only when deploySampleCluster is true', () => {
      expect(moduleOf(main, 'sample').condition).toBe("[parameters('deploySampleCluster')]");
      expect(((main.parameters as JsonObject).deploySampleCluster as JsonObject).defaultValue).toBe(false);
    });

    it('has three Debian 12 VMs across availability zones (or an availability set), SSH-key login only', () => {
      expect(String(sampleLayout(main).nodes)).toMatch(/^\[map\(range\(1, 3\), /);
      const vms = one(ofType(sample, 'Microsoft.Compute/virtualMachines'), 'VMs').resource;
      expect((vms.copy as JsonObject).count).toBe("[length(parameters('layout').nodes)]");
      expect(JSON.stringify(vms.zones)).toContain("parameters('zones')");
      expect(JSON.stringify(props(vms).availabilitySet)).toContain('Microsoft.Compute/availabilitySets');
      expect((props(vms).storageProfile as JsonObject).imageReference).toEqual({ publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', version: 'latest' });
      expect(((props(vms).osProfile as JsonObject).linuxConfiguration as JsonObject).disablePasswordAuthentication).toBe(true);
      const zones = ((main.parameters as JsonObject).sampleZones as JsonObject).defaultValue;
      expect(zones).toEqual(['1', '2', '3']);
    });

    it('installs and replicates PostgreSQL 15 with cloud-init: every placeholder filled, passwords base64 from secure parameters', () => {
      const vms = one(ofType(sample, 'Microsoft.Compute/virtualMachines'), 'VMs').resource;
      const customData = String((props(vms).osProfile as JsonObject).customData);
      expect(customData).toMatch(/^\[base64\(/);
      const cloudInit = readFileSync(join(BICEP_SOURCE_DIR, 'modules', 'cloud-init', 'pg-node.yaml'), 'utf8');
      const placeholders = [...new Set(cloudInit.match(/\{\{[A-Z0-9_]+\}\}/g))];
      expect(placeholders.sort()).toEqual(['{{ADMIN_PASSWORD_B64}}', '{{NODE_NAME}}', '{{PRIMARY_ADDRESS}}', '{{NETWORK_CIDR}}', '{{REPLICATION_PASSWORD_B64}}', '{{REPLICATION_USER}}', '{{ROLE}}'].sort());
      for (const placeholder of placeholders) expect(customData).toContain(`'${placeholder}'`);
      expect(customData).toContain("base64(parameters('replicationPassword'))");
      expect(customData).toContain("base64(parameters('postgresAdminPassword'))");
      expect(customData).toContain("if(equals(copyIndex(), 0), 'primary', 'standby')");
      // The compiled template carries the cloud-init text itself.
      expect(JSON.stringify(sample.variables)).toContain('wal_log_hints = on');
      expect(cloudInit).toContain('postgresql-15');
      expect(cloudInit).toMatch(/pg_basebackup" -w .* -X stream -R/s);
      expect(cloudInit).toContain('WITH REPLICATION LOGIN');
      expect(cloudInit).toMatch(/pg-failover AGENT: NOT INSTALLED HERE[\s\S]*issue 6/);
    });

    it('puts an internal Standard load balancer in front: write and read frontends, pg-write and pg-read pools, rules and probes on 5432', () => {
      const lb = one(ofType(sample, 'Microsoft.Network/loadBalancers'), 'load balancer').resource;
      expect(lb.sku).toEqual({ name: 'Standard', tier: 'Regional' });
      const p = props(lb);
      const frontends = p.frontendIPConfigurations as JsonObject[];
      expect(frontends).toHaveLength(2);
      for (const f of frontends) {
        expect(props(f as ArmResource)).toMatchObject({ privateIPAllocationMethod: 'Static' });
        expect((props(f as ArmResource) as JsonObject).publicIPAddress).toBeUndefined();
      }
      expect(sampleLayout(main)).toMatchObject({ writePool: 'pg-write', readPool: 'pg-read' });
      expect(p.backendAddressPools).toEqual([{ name: "[parameters('layout').writePool]" }, { name: "[parameters('layout').readPool]" }]);
      const rules = (p.loadBalancingRules as JsonObject[]).map((r) => props(r as ArmResource));
      expect(rules).toHaveLength(2);
      for (const rule of rules) expect(rule).toMatchObject({ protocol: 'Tcp', frontendPort: 5432, backendPort: 5432, enableTcpReset: true });
      const probes = (p.probes as JsonObject[]).map((r) => props(r as ArmResource));
      expect(probes).toHaveLength(2);
      for (const probe of probes) expect(probe).toMatchObject({ protocol: 'Tcp', port: 5432 });
    });

    it('lets 5432 in from the virtual network and the load balancer probe, and nothing else', () => {
      const nsg = one(ofType(sample, 'Microsoft.Network/networkSecurityGroups'), 'NSG').resource;
      const rules = (props(nsg).securityRules as JsonObject[]).map((r) => props(r as ArmResource));
      const allow = rules.filter((r) => r.access === 'Allow');
      expect(allow.map((r) => [r.sourceAddressPrefix, r.destinationPortRange, r.protocol]).sort()).toEqual([
        ['AzureLoadBalancer', '5432', 'Tcp'],
        ['VirtualNetwork', '5432', 'Tcp'],
      ]);
      expect(rules.find((r) => r.access === 'Deny')).toMatchObject({ sourceAddressPrefix: '*', destinationPortRange: '*' });
    });

    it('outputs no password', () => {
      expect(JSON.stringify(sample.outputs)).not.toMatch(/password/i);
    });
  });

  describe('evaluated with parameters (what a deployment would do)', () => {
    const exampleParameters = (file: string): Record<string, Json> => {
      const example = JSON.parse(readFileSync(join(BICEP_SOURCE_DIR, file), 'utf8')) as { parameters: Record<string, { value: Json }> };
      return Object.fromEntries(Object.entries(example.parameters).map(([name, p]) => [name, p.value]));
    };
    const appConfig = (evaluator: TemplateEvaluator): Json => {
      const params = props(moduleOf(main, 'functionApp')).parameters as Record<string, JsonObject>;
      return JSON.parse(String(evaluator.evaluate(params.clusterConfigJson.value))) as Json;
    };
    const sub = '11111111-1111-1111-1111-111111111111';

    it('with the example parameters: roles on exactly the configured VMs, NICs, load balancer and subnet; the app gets that configuration', () => {
      const parameters = exampleParameters('main.parameters.example.json');
      const evaluator = new TemplateEvaluator(main, parameters);
      const clusters = (parameters.clusterConfig as { clusters: Array<{ nodes: JsonObject[]; loadBalancer: JsonObject }> }).clusters;
      expect(evaluator.variable('vmIds')).toEqual(clusters[0].nodes.map((n) => n.vmResourceId));
      expect(evaluator.variable('nicIds')).toEqual(clusters[0].nodes.map((n) => n.nicResourceId));
      expect(evaluator.variable('loadBalancerIds')).toEqual([clusters[0].loadBalancer.resourceId]);
      expect(evaluator.variable('subnetIds')).toEqual(parameters.databaseSubnetIds);
      expect(evaluator.variable('ipPoolVirtualNetworkIds')).toEqual([]);
      const config = appConfig(evaluator);
      expect(config).toEqual(parameters.clusterConfig);
      expect(() => parseConfig(config, CONFIG_SETTING)).not.toThrow();
      // The module for the first VM is deployed into that VM's subscription and resource group.
      const vmModule = moduleOf(main, 'vmRoles');
      const first = (expression: Json) => String(evaluator.evaluate(String(expression).replace(/copyIndex\(\)/g, '0')));
      expect([first(vmModule.subscriptionId), first(vmModule.resourceGroup)]).toEqual(['00000000-0000-0000-0000-000000000000', 'rg-orders-db']);
      expect(first(((props(vmModule).parameters as JsonObject).vmName as JsonObject).value)).toBe('orders-pg1');
    });

    it('removes duplicate scopes and grants the VNet of IP-based pools', () => {
      const base = exampleParameters('main.parameters.example.json');
      const cluster = (base.clusterConfig as { clusters: JsonObject[] }).clusters[0] as { loadBalancer: JsonObject; nodes: JsonObject[] };
      const vnet = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-db';
      const second = {
        ...cluster,
        name: 'billing',
        // The same VMs again (IP-based pools: no NICs).
        nodes: cluster.nodes.map((n) => ({ name: `b${String(n.name)}`, vmResourceId: n.vmResourceId, host: n.host })),
        loadBalancer: { ...cluster.loadBalancer, membership: 'ip', virtualNetworkId: vnet },
      };
      const evaluator = new TemplateEvaluator(main, { ...base, clusterConfig: { clusters: [cluster, second] } as unknown as Json });
      expect(evaluator.variable('vmIds')).toHaveLength(3); // the same VMs listed twice
      expect(evaluator.variable('nicIds')).toHaveLength(3);
      expect(evaluator.variable('loadBalancerIds')).toHaveLength(1);
      expect(evaluator.variable('ipPoolVirtualNetworkIds')).toEqual([vnet]);
    });

    it('with the sample cluster: its VMs, NICs, load balancer and database subnet get the roles, and its configuration passes the app\'s schema', () => {
      const evaluator = new TemplateEvaluator(main, exampleParameters('main.sample.parameters.example.json'));
      const rg = `/subscriptions/${sub}/resourceGroups/rg-pg-failover`;
      expect(evaluator.variable('vmIds')).toEqual([1, 2, 3].map((n) => `${rg}/providers/Microsoft.Compute/virtualMachines/pgtry-pg${n}`));
      expect(evaluator.variable('nicIds')).toEqual([1, 2, 3].map((n) => `${rg}/providers/Microsoft.Network/networkInterfaces/pgtry-pg${n}-nic`));
      expect(evaluator.variable('loadBalancerIds')).toEqual([`${rg}/providers/Microsoft.Network/loadBalancers/pgtry-pg-ilb`]);
      expect(evaluator.variable('subnetIds')).toEqual([`${rg}/providers/Microsoft.Network/virtualNetworks/pgtry-pg-vnet/subnets/pg-db`]);
      const config = parseConfig(appConfig(evaluator), CONFIG_SETTING);
      expect(config.clusters.map((c) => c.name)).toEqual(['sample']);
      const [cluster] = config.clusters;
      expect(cluster.nodes.map((n) => [n.name, n.host, n.port])).toEqual([
        ['pg1', '10.50.1.10', 5432],
        ['pg2', '10.50.1.11', 5432],
        ['pg3', '10.50.1.12', 5432],
      ]);
      expect(cluster.loadBalancer).toMatchObject({ writePool: 'pg-write', readPool: 'pg-read', membership: 'nic' });
      expect(cluster.postgres).toMatchObject({ replicationUser: 'replicator', dataDirectory: '/var/lib/postgresql/15/main', serviceName: 'postgresql@15-main' });
      const layout = evaluator.variable('sampleLayout') as JsonObject;
      expect([layout.writeFrontendAddress, layout.readFrontendAddress]).toEqual(['10.50.1.100', '10.50.1.101']);
      // The app is integrated with the sample's Functions subnet.
      const subnet = (props(moduleOf(main, 'functionApp')).parameters as JsonObject).subnetId;
      expect((evaluator.evaluate(subnet as Json) as JsonObject).value).toBe(`${rg}/providers/Microsoft.Network/virtualNetworks/pgtry-pg-vnet/subnets/pg-functions`);
    });
  });

  it('accepts every parameter the example parameter files set', () => {
    const declared = Object.keys(main.parameters as JsonObject);
    for (const file of ['main.parameters.example.json', 'main.sample.parameters.example.json']) {
      const example = JSON.parse(readFileSync(join(BICEP_SOURCE_DIR, file), 'utf8')) as { parameters: JsonObject };
      expect(declared).toEqual(expect.arrayContaining(Object.keys(example.parameters)));
    }
  });
});

describe('bicep/main.parameters.example.json', () => {
  it('carries a cluster configuration the app accepts (src/config/schema.ts)', () => {
    const example = JSON.parse(readFileSync(join(BICEP_SOURCE_DIR, 'main.parameters.example.json'), 'utf8')) as {
      parameters: { clusterConfig: { value: unknown } };
    };
    const config = parseConfig(example.parameters.clusterConfig.value, 'main.parameters.example.json');
    expect(config.clusters[0].nodes).toHaveLength(3);
    expect(JSON.stringify(example)).not.toMatch(/"(password|secret)"\s*:/i);
  });
});

describe('the sample cluster\'s cloud-init setup script', () => {
  /** The `content: |` block of the write_files entry for /usr/local/sbin/pg-sample-setup. */
  const setupScript = (): string => {
    const lines = readFileSync(join(BICEP_SOURCE_DIR, 'modules', 'cloud-init', 'pg-node.yaml'), 'utf8').split('\n');
    const start = lines.findIndex((line) => line.includes('path: /usr/local/sbin/pg-sample-setup'));
    const content = lines.findIndex((line, i) => i > start && /^\s+content: \|$/.test(line));
    const body: string[] = [];
    for (const line of lines.slice(content + 1)) {
      if (line.trim() && !line.startsWith('      ')) break;
      body.push(line.slice(6));
    }
    return `${body.join('\n').trimEnd()}\n`;
  };

  it('is valid bash with strict mode and a machine-readable result line', () => {
    const script = setupScript();
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('set -euo pipefail');
    expect(script).toMatch(/echo "PG_SAMPLE_SETUP_RESULT=ok /);
    const dir = mkdtempSync(join(tmpdir(), 'pg-sample-setup-'));
    try {
      const file = join(dir, 'pg-sample-setup');
      writeFileSync(file, script);
      const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
      expect(syntax.stderr).toBe('');
      expect(syntax.status).toBe(0);
      const shellcheck = spawnSync('shellcheck', ['-s', 'bash', file], { encoding: 'utf8' });
      if (shellcheck.error) console.warn('shellcheck is not installed: only `bash -n` checked the sample setup script');
      else expect(shellcheck.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never puts a password on a command line: psql reads them with \\getenv, pg_basebackup from .pgpass', () => {
    const script = setupScript();
    expect(script).toContain('\\getenv repl_pw REPL_PW');
    expect(script).not.toMatch(/psql[^\n]*(REPL_PW|ADMIN_PW)/);
    expect(script).toMatch(/PGPASSFILE=\/var\/lib\/postgresql\/.pgpass "\$bin\/pg_basebackup" -w/);
  });
});
