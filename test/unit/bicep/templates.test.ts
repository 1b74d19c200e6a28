/**
 * The deployment, checked on the ARM JSON the Bicep CLI compiles from bicep/ (built once, into a
 * temp dir, by the same function `npm run build:bicep` uses). Skipped with a printed reason only
 * when no Bicep CLI can be found or restored.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import {
  DEPLOYED_APP_SETTINGS,
  DURABLE_BACKENDS,
  FAILOVER_ROLE,
  FLEX_RUNTIME,
  FORBIDDEN_APP_SETTINGS,
  GRANTED_ROLES,
  ROLE_DEFINITION_IDS,
  SAMPLE_AGENT_INSTALL,
  SAMPLE_SECRETS,
  VM_POWER_EVENT_SUBSCRIPTION,
} from '../../../bicep/contract';
import failoverOperatorRole from '../../../bicep/roles/failover-operator.json';
import { CONFIG_SETTING, parseConfig } from '../../../src/config/load';
import { ConfigSchema } from '../../../src/config/schema';
import { z } from 'zod';
import { RESOURCE_ACTION_SUCCESS, VM_POWER_ACTIONS } from '../../../src/domain/scheduled-events-power-actions';
import { AGENT_BUNDLE, AGENT_BUNDLE_DIR, agentBundleFiles, SCRIPT_DIGESTS_FILE } from '../../../scripts/agent-bundle';
import { vmScriptDigests } from '../../../src/vm-scripts/catalogue';
import { BICEP_SOURCE_DIR, BuildResult, formatDiagnostic, REPO_ROOT } from '../../../scripts/bicep/build';
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
import { TemplateEvaluator, TEST_TENANT_ID } from './arm-eval';

/** Roles no part of the deployment may grant. */
const BROAD_ROLES = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  storageAccountContributor: '17d1049b-9a84-46fb-8f53-869881c3d3ab',
  // Replaced by the failover role: they allow deleting and reimaging VMs, NSG, DNS and peering changes.
  virtualMachineContributor: '9980e02c-c2be-4d73-94e8-173b1dc7cf3c',
  networkContributor: '4d97b98b-1d4f-4787-a291-c67834d212e7',
};
/** The roles an assignment grants: built-in ones by GUID, the deployment's failover role by its parameter. */
const grantedRoles = (a: Located): string[] => [...roleGuids(a), ...(String(props(a.resource).roleDefinitionId).includes(FAILOVER_ROLE) ? [FAILOVER_ROLE] : [])];
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

/** Test values for the secrets of a sample deployment (they must never show up where they should not). */
const ADMIN_PASSWORD = 'admin-Password-0123456789';
const REPLICATION_PASSWORD = 'replication-Password-0123456789';
/** The sample's nodeAuthAudience in these tests. */
const NODE_AUTH_AUDIENCE = 'api://pg-failover-nodes-test';
const SNAKEOIL = SAMPLE_AGENT_INSTALL.snakeoil;

/** The write_files entries of a filled-in cloud-init document, by path (read line by line: entries
 *  at 2 spaces, fields at 4; a `content: |` block's lines at 6, clipped to one final line break). */
const writeFiles = (cloudInit: string): Record<string, Record<string, string>> => {
  const entries: Record<string, Record<string, string>> = {};
  let section = '';
  let current: Record<string, string> | undefined;
  let block: string[] | undefined;
  const closeBlock = () => {
    if (current && block) {
      while (block.length && block[block.length - 1] === '') block.pop();
      current.content = `${block.join('\n')}\n`;
    }
    block = undefined;
  };
  for (const line of cloudInit.split('\n')) {
    if (block) {
      if (line.startsWith('      ') || line.trim() === '') {
        block.push(line.trim() === '' ? '' : line.slice(6));
        continue;
      }
      closeBlock();
    }
    if (/^[a-z_]+:/.test(line)) {
      section = line.slice(0, line.indexOf(':'));
      current = undefined;
      continue;
    }
    if (section !== 'write_files') continue;
    const start = /^ {2}- path: (\S+)$/.exec(line);
    if (start) {
      current = { path: start[1] };
      entries[start[1]] = current;
      continue;
    }
    const field = /^ {4}(owner|permissions|encoding|content): (.*)$/.exec(line);
    if (field && current && field[1] === 'content' && field[2] === '|') block = [];
    else if (field && current) current[field[1]] = field[2].replace(/^'(.*)'$/, '$1');
  }
  closeBlock();
  return entries;
};

/** The runcmd commands of a filled-in cloud-init document (flow sequences of plain or single-quoted words). */
const runcmd = (cloudInit: string): string[][] => {
  const lines = cloudInit.split('\n');
  const start = lines.indexOf('runcmd:');
  expect(start).toBeGreaterThan(0);
  return lines
    .slice(start + 1)
    .filter((line) => line.startsWith('  - ['))
    .map((line) => /^ {2}- \[(.*)\]$/.exec(line)![1].split(', ').map((word) => word.replace(/^'(.*)'$/, '$1')));
};

/** Root-level resources (modules included) → the symbols they depend on. */
const dependencies = (template: Template): Record<string, string[]> =>
  Object.fromEntries(resourcesOf(template).map(([symbol, r]) => [symbol, ((r.dependsOn ?? []) as string[]).slice().sort()]));

/** A dependency cycle among the root-level resources, if there is one (ARM would reject the template). */
const findCycle = (graph: Record<string, string[]>): string[] | undefined => {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: string, path: string[]): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'visiting') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'visiting');
    for (const next of graph[node] ?? []) {
      const cycle = visit(next, [...path, node]);
      if (cycle) return cycle;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of Object.keys(graph)) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
};

type DurableBackend = 'DurableTaskScheduler' | 'AzureStorage';
const BACKENDS: DurableBackend[] = ['DurableTaskScheduler', 'AzureStorage'];
const HOST_OVERRIDE_PREFIX = 'AzureFunctionsJobHost__';

const readHostJson = (): JsonObject => JSON.parse(readFileSync(join(REPO_ROOT, 'host.json'), 'utf8')) as JsonObject;
const durableTaskSection = (host: JsonObject): JsonObject => (host.extensions as JsonObject).durableTask as JsonObject;

/** host.json as the Functions host sees it with these app settings: each AzureFunctionsJobHost__a__b__c
 *  replaces the value at path a.b.c (keys matched case-insensitively, as .NET configuration does). */
const withHostOverrides = (host: JsonObject, settings: Record<string, string>): JsonObject => {
  const copy = JSON.parse(JSON.stringify(host)) as JsonObject;
  for (const [name, value] of Object.entries(settings)) {
    if (!name.startsWith(HOST_OVERRIDE_PREFIX)) continue;
    const path = name.slice(HOST_OVERRIDE_PREFIX.length).split('__');
    let node = copy;
    path.forEach((segment, i) => {
      const key = Object.keys(node).find((k) => k.toLowerCase() === segment.toLowerCase()) ?? segment;
      if (i === path.length - 1) node[key] = value;
      else node = (node[key] ??= {}) as JsonObject;
    });
  }
  return copy;
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

  /** The function-app module's site evaluated with these parameters; every required parameter not
   *  given gets the marker `<name>`, so an evaluated value shows which parameter it came from. */
  const evaluateSite = (parameters: Record<string, Json> = {}) => {
    const template = nestedTemplate(moduleOf(main, 'functionApp'));
    const declared = template.parameters as Record<string, JsonObject>;
    const markers = Object.fromEntries(
      Object.keys(declared)
        .filter((name) => !('defaultValue' in declared[name]))
        .map((name) => [name, `<${name}>`]),
    );
    const evaluator = new TemplateEvaluator(template, { ...markers, ...parameters });
    const site = one(ofType(template, 'Microsoft.Web/sites'), 'function app').resource;
    const list = evaluator.evaluate((props(site).siteConfig as JsonObject).appSettings) as Array<{ name: string; value: string }>;
    const config = props(site).functionAppConfig as JsonObject;
    return {
      names: list.map((setting) => setting.name),
      settings: Object.fromEntries(list.map((setting) => [setting.name, setting.value])),
      scale: evaluator.evaluate(config.scaleAndConcurrency) as JsonObject,
      runtime: evaluator.evaluate(config.runtime) as JsonObject,
    };
  };
  const mainParameter = (name: string): JsonObject => (main.parameters as Record<string, JsonObject>)[name];
  const moduleParameters = (module: string): Record<string, JsonObject> => props(moduleOf(main, module)).parameters as Record<string, JsonObject>;

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
    /** The app identity's assignments: all but the sample module's, which go to the sample VMs' own identities (tested with the sample). */
    const appAssignments = () => ofType(main, 'Microsoft.Authorization/roleAssignments').filter((a) => a.modulePath[0] !== 'sample');

    it('grants exactly the expected role at the expected resource type, module by module', () => {
      const assignments = appAssignments();
      const byModule: Record<string, { scope: string | undefined; roles: string[] }> = {};
      for (const a of assignments) {
        const module = a.modulePath[0] ?? '(main)';
        expect(byModule[module]).toBeUndefined(); // one assignment resource (or loop) per module
        byModule[module] = { scope: scopeType(a), roles: grantedRoles(a) };
      }
      expect(byModule).toEqual(EXPECTED_ROLES);
    });

    it('assigns every role to the identity as a service principal, at a resource (never a resource group or subscription)', () => {
      const assignments = appAssignments();
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
        subnetRoles: 'nicSubnetIds',
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

    it('defines the failover role with exactly the actions of roles/failover-operator.json, no wildcard, assignable only in the cluster resources\' groups', () => {
      const definition = one(ofType(main, 'Microsoft.Authorization/roleDefinitions'), 'role definition');
      expect(definition.modulePath).toEqual(['failoverRole']);
      const properties = props(definition.resource);
      const permissions = properties.permissions as { actions: unknown; notActions: unknown }[];
      const actions = new TemplateEvaluator(definition.template, { roleDefinitionName: 'r', deploymentName: 'pgfo', clusterResourceGroupIds: [] }).evaluate(String(permissions[0].actions));
      expect(actions).toEqual(failoverOperatorRole.permissions.map((p) => p.action));
      expect(JSON.stringify(actions)).not.toContain('*');
      expect(properties.type).toBe('CustomRole');
      expect(String(properties.assignableScopes)).toContain("parameters('clusterResourceGroupIds')");
      expect(String((main.variables as Record<string, string>).clusterResourceGroupIds)).toMatch(/vmIds.*nicIds.*loadBalancerIds.*nicSubnetIds.*ipPoolVirtualNetworkIds/);
      const named = { value: "[variables('failoverRoleDefinitionName')]" };
      expect(props(moduleOf(main, 'failoverRole')).parameters).toEqual({ roleDefinitionName: named, deploymentName: { value: "[parameters('namePrefix')]" }, clusterResourceGroupIds: { value: "[variables('clusterResourceGroupIds')]" } });
      expect((main.variables as Record<string, string>).failoverRoleDefinitionName).toContain("parameters('namePrefix')");
      for (const module of ['vmRoles', 'nicRoles', 'loadBalancerRoles', 'subnetRoles', 'virtualNetworkRoles']) {
        expect((props(moduleOf(main, module)).parameters as Record<string, JsonObject>).roleDefinitionName).toEqual(named);
        expect(moduleOf(main, module).dependsOn).toContain('failoverRole');
      }
    });

    it('names each assignment deterministically from the scope, the identity and the role', () => {
      for (const a of appAssignments()) {
        expect(String(a.resource.name)).toMatch(/^\[guid\(.*parameters\('identityId'\).*\)\]$/);
      }
    });

    it('grants nothing else: every assignment is the app identity\'s or a sample VM\'s read access to the replication password (none to the admin password)', () => {
      const sampleVmGrants = ofType(main, 'Microsoft.Authorization/roleAssignments').filter((a) => a.modulePath[0] === 'sample');
      expect(sampleVmGrants.map((a) => a.symbol).sort()).toEqual(['replicationPasswordReaders']);
      for (const a of sampleVmGrants) {
        expect(a.modulePath).toEqual(['sample']);
        expect(roleGuids(a)).toEqual([SAMPLE_SECRETS.role]);
        expect(scopeType(a)).toBe('Microsoft.KeyVault/vaults/secrets');
      }
      // No assignment anywhere is scoped to (or named from) the admin password's secret.
      for (const a of ofType(main, 'Microsoft.Authorization/roleAssignments')) expect(JSON.stringify([a.resource.scope, a.resource.name])).not.toMatch(/adminPassword/i);
    });
  });

  describe('identity-based storage', () => {
    it('has no account key, SAS, connection string or list* call anywhere (no key of the app is read either)', () => {
      for (const text of [mainText, ...Object.values(result.outputs).map((f) => readFileSync(f, 'utf8'))]) {
        expect(text).not.toMatch(/AccountKey/i);
        expect(text).not.toMatch(/list[A-Z]\w*\(/);
        expect(text).not.toMatch(/host\/default/);
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
    beforeAll(() => {
      site = one(ofType(main, 'Microsoft.Web/sites'), 'function app').resource;
    });

    it('runs on Flex Consumption (FC1) with the Node runtime of the nodeVersion parameter: 22 by default, 24 allowed', () => {
      const plan = one(ofType(main, 'Microsoft.Web/serverfarms'), 'plan').resource;
      expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      expect(props(plan).reserved).toBe(true);
      expect(site.kind).toBe('functionapp,linux');
      const config = props(site).functionAppConfig as JsonObject;
      expect(config.runtime).toEqual({ name: 'node', version: "[parameters('nodeVersion')]" });
      const nested = nestedTemplate(moduleOf(main, 'functionApp')).parameters as Record<string, JsonObject>;
      for (const declaration of [mainParameter('nodeVersion'), nested.nodeVersion]) {
        expect(declaration).toMatchObject({ type: 'string', allowedValues: [...FLEX_RUNTIME.nodeVersions], defaultValue: FLEX_RUNTIME.defaultNodeVersion });
      }
      expect(moduleParameters('functionApp').nodeVersion).toEqual({ value: "[parameters('nodeVersion')]" });
      expect(evaluateSite().runtime).toEqual({ name: 'node', version: '22' });
      expect(evaluateSite({ nodeVersion: '24' }).runtime).toEqual({ name: 'node', version: '24' });
      // Through main.bicep: its default reaches the module.
      expect(new TemplateEvaluator(main, {}).evaluate(moduleParameters('functionApp').nodeVersion as Json)).toEqual({ value: '22' });
    });

    it('keeps one instance of the durable and http groups always ready and caps on-demand instances at Flex\'s lowest maximum', () => {
      expect(evaluateSite().scale).toEqual({
        alwaysReady: FLEX_RUNTIME.alwaysReadyGroups.map((name) => ({ name, instanceCount: 1 })),
        maximumInstanceCount: FLEX_RUNTIME.minimumMaximumInstanceCount,
        instanceMemoryMB: 2048,
      });
      // A group set to 0 is left out (it scales from zero); the counts and the cap are parameters.
      expect(evaluateSite({ alwaysReadyHttpInstances: 0, alwaysReadyDurableInstances: 2, maximumInstanceCount: 40 }).scale).toEqual({
        alwaysReady: [{ name: 'durable', instanceCount: 2 }],
        maximumInstanceCount: 40,
        instanceMemoryMB: 2048,
      });
      expect(mainParameter('maximumInstanceCount')).toMatchObject({ minValue: FLEX_RUNTIME.minimumMaximumInstanceCount, maxValue: 1000, defaultValue: FLEX_RUNTIME.minimumMaximumInstanceCount });
      for (const name of ['alwaysReadyDurableInstances', 'alwaysReadyHttpInstances']) {
        expect(mainParameter(name)).toMatchObject({ type: 'int', minValue: 0, defaultValue: 1 });
      }
      for (const name of ['maximumInstanceCount', 'alwaysReadyDurableInstances', 'alwaysReadyHttpInstances', 'instanceMemoryMB']) {
        expect(moduleParameters('functionApp')[name]).toEqual({ value: `[parameters('${name}')]` });
      }
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

    it('sets every app setting the code reads, with identity-based values, whatever the Durable backend', () => {
      expect(DEPLOYED_APP_SETTINGS.config).toBe(CONFIG_SETTING);
      for (const durableBackend of BACKENDS) {
        const { names, settings } = evaluateSite({ durableBackend, durableTaskSchedulerEndpoint: 'https://dts.example' });
        expect(new Set(names).size).toBe(names.length); // no setting twice
        expect(names).toEqual(expect.arrayContaining(REQUIRED_SETTINGS));
        expect(settings).toMatchObject({
          [CONFIG_SETTING]: '<clusterConfigJson>',
          KEY_VAULT_URL: '<keyVaultUri>',
          AZURE_CLIENT_ID: '<identityClientId>',
          TASK_HUB_NAME: '<taskHubName>',
          AzureWebJobsStorage__accountName: '<storageAccountName>',
          AzureWebJobsStorage__credential: 'managedidentity',
          AzureWebJobsStorage__clientId: '<identityClientId>',
          APPLICATIONINSIGHTS_CONNECTION_STRING: '<appInsightsConnectionString>',
          APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=<identityClientId>;Authorization=AAD',
          [DEPLOYED_APP_SETTINGS.nodeAuthAudience]: '<nodeAuthAudience>',
          [DEPLOYED_APP_SETTINGS.nodeAuthTenantId]: TEST_TENANT_ID,
        });
        for (const name of FORBIDDEN_SETTINGS) expect(names).not.toContain(name);
      }
      // What main.bicep feeds them with.
      expect(props(moduleOf(main, 'functionApp')).parameters).toMatchObject({
        clusterConfigJson: { value: "[string(variables('effectiveConfig'))]" },
        keyVaultUri: { value: "[reference('keyVault').outputs.uri.value]" },
        identityClientId: { value: "[reference('identity').clientId]" },
        storageAccountName: { value: "[reference('storage').outputs.name.value]" },
        taskHubName: { value: "[parameters('taskHubName')]" },
        nodeAuthAudience: { value: "[variables('checkedNodeAuthAudience')]" },
      });
    });

    it('accepts on the node routes only VM tokens for nodeAuthAudience (NODE_AUTH_AUDIENCE) from the deployment\'s tenant (NODE_AUTH_TENANT_ID)', () => {
      const appSettings = JSON.stringify((nestedTemplate(moduleOf(main, 'functionApp')).variables as JsonObject).baseAppSettings);
      expect(appSettings).toContain(`{"name":"${DEPLOYED_APP_SETTINGS.nodeAuthAudience}","value":"[parameters('nodeAuthAudience')]"}`);
      expect(appSettings).toContain(`{"name":"${DEPLOYED_APP_SETTINGS.nodeAuthTenantId}","value":"[subscription().tenantId]"}`);
      expect(mainParameter('nodeAuthAudience')).toMatchObject({ type: 'string', defaultValue: '' });
      expect(String(mainParameter('nodeAuthAudience').metadata && (mainParameter('nodeAuthAudience').metadata as JsonObject).description)).toMatch(/az ad app create --display-name pg-failover-nodes.*az ad sp create --id <appId>/);
      const audience = (parameters: Record<string, Json>) => new TemplateEvaluator(main, parameters).variable('checkedNodeAuthAudience');
      // Without any cluster it may stay empty; with one the app would refuse every agent, so the deployment stops at once.
      expect(audience({})).toBe('');
      const oneCluster = { clusterConfig: JSON.parse(readFileSync(join(BICEP_SOURCE_DIR, 'main.parameters.example.json'), 'utf8')).parameters.clusterConfig.value as Json };
      expect(() => audience(oneCluster)).toThrow(/fail\(\): nodeAuthAudience is required with a cluster .*az ad app create --display-name pg-failover-nodes/);
      expect(audience({ ...oneCluster, nodeAuthAudience: 'api://pg-failover-nodes' })).toBe('api://pg-failover-nodes');
      expect(audience({ ...oneCluster, nodeAuthAudience: '00000000-0000-0000-0000-000000000001' })).toBe('00000000-0000-0000-0000-000000000001');
      for (const bad of ['api://two words', "api://it's", 'api://"quoted"']) expect(() => audience({ ...oneCluster, nodeAuthAudience: bad })).toThrow(/nodeAuthAudience is required/);
    });

    it('sends telemetry with Entra ID only (local auth off on Application Insights)', () => {
      const component = one(ofType(main, 'Microsoft.Insights/components'), 'Application Insights').resource;
      expect(props(component)).toMatchObject({ DisableLocalAuth: true, WorkspaceResourceId: expect.stringContaining('Microsoft.OperationalInsights/workspaces') });
    });
  });

  describe('the Durable Functions backend (durableBackend)', () => {
    const ENDPOINT = 'https://pgfo-dts-abc123.westeurope.durabletask.io';
    let dts: Template;
    beforeAll(() => {
      dts = nestedTemplate(moduleOf(main, 'durableTaskScheduler'));
    });
    /** main.json evaluated with a backend; the scheduler module's endpoint output is the only run-time value it may read. */
    const evaluateMain = (durableBackend: DurableBackend, extra: Record<string, Json> = {}) => {
      const reads: string[] = [];
      const evaluator = new TemplateEvaluator(
        main,
        { durableBackend, ...extra },
        {
          subscriptionId: '11111111-1111-1111-1111-111111111111',
          resourceGroup: 'rg-pg-failover',
          location: 'westeurope',
          runtime: {
            reference: (target) => {
              reads.push(target);
              return target === 'durableTaskScheduler' ? { outputs: { endpoint: { value: ENDPOINT } } } : undefined;
            },
          },
        },
      );
      return { evaluator, reads };
    };

    it('is the Durable Task Scheduler by default, Azure Storage on request; the storage and app modules get the choice', () => {
      expect(mainParameter(DURABLE_BACKENDS.parameter)).toMatchObject({ type: 'string', allowedValues: ['DurableTaskScheduler', 'AzureStorage'], defaultValue: DURABLE_BACKENDS.default });
      for (const module of ['functionApp', 'storage']) {
        expect((nestedTemplate(moduleOf(main, module)).parameters as Record<string, JsonObject>).durableBackend).toMatchObject({ allowedValues: ['DurableTaskScheduler', 'AzureStorage'] });
        expect(moduleParameters(module).durableBackend).toEqual({ value: "[parameters('durableBackend')]" });
      }
      const condition = moduleOf(main, 'durableTaskScheduler').condition as Json;
      expect(new TemplateEvaluator(main, {}).evaluate(condition)).toBe(true);
      expect(evaluateMain('DurableTaskScheduler').evaluator.evaluate(condition)).toBe(true);
      expect(evaluateMain('AzureStorage').evaluator.evaluate(condition)).toBe(false);
    });

    it('DurableTaskScheduler: a Consumption-SKU scheduler whose IP allow list cannot be empty, and a task hub named as the app\'s', () => {
      const scheduler = one(ofType(dts, 'Microsoft.DurableTask/schedulers'), 'scheduler').resource;
      expect(scheduler.apiVersion).toBe('2025-11-01');
      expect(props(scheduler)).toEqual({ sku: { name: 'Consumption' }, ipAllowlist: "[parameters('ipAllowlist')]" });
      // An empty list denies every caller: neither the module nor main.bicep accepts one, and the default is not empty.
      expect((dts.parameters as Record<string, JsonObject>).ipAllowlist).toMatchObject({ type: 'array', minLength: 1 });
      expect(mainParameter('durableTaskSchedulerIpAllowlist')).toMatchObject({ type: 'array', minLength: 1, defaultValue: ['0.0.0.0/0'] });
      const { evaluator } = evaluateMain('DurableTaskScheduler');
      const parameters = evaluator.evaluate(props(moduleOf(main, 'durableTaskScheduler')).parameters as Json) as Record<string, { value: Json }>;
      expect(parameters.ipAllowlist.value).toEqual(['0.0.0.0/0']);
      const restricted = evaluateMain('DurableTaskScheduler', { durableTaskSchedulerIpAllowlist: ['203.0.113.7/32'] }).evaluator;
      expect((restricted.evaluate(moduleParameters('durableTaskScheduler').ipAllowlist as Json) as { value: Json }).value).toEqual(['203.0.113.7/32']);
      expect(String(parameters.name.value)).toMatch(/^[a-zA-Z0-9-]{3,64}$/);
      // The task hub: a child of the scheduler, named as the hub the app's host.json reads from TASK_HUB_NAME.
      const taskHub = one(ofType(dts, 'Microsoft.DurableTask/schedulers/taskHubs'), 'task hub').resource;
      expect(taskHub.apiVersion).toBe('2025-11-01');
      expect(taskHub.name).toBe("[format('{0}/{1}', parameters('name'), parameters('taskHubName'))]");
      expect(parameters.taskHubName.value).toBe('pgfailover');
      expect(evaluator.evaluate(moduleParameters('functionApp').taskHubName as Json)).toEqual({ value: parameters.taskHubName.value });
      expect(evaluateSite({ taskHubName: 'pgfailover' }).settings[DEPLOYED_APP_SETTINGS.taskHubName]).toBe('pgfailover');
    });

    it('DurableTaskScheduler: the app\'s identity gets Durable Task Data Contributor on that task hub, and nothing more', () => {
      const assignment = one(ofType(dts, 'Microsoft.Authorization/roleAssignments'), 'role assignment');
      expect(roleGuids(assignment)).toEqual([ROLE_DEFINITION_IDS.durableTaskDataContributor]);
      expect(ROLE_DEFINITION_IDS.durableTaskDataContributor).toBe('0ad04412-c4d5-4796-b79c-f76d14c8d402');
      expect(assignment.resource.scope).toBe("[resourceId('Microsoft.DurableTask/schedulers/taskHubs', parameters('name'), parameters('taskHubName'))]");
      expect(props(assignment.resource)).toMatchObject({ principalId: "[parameters('principalId')]", principalType: 'ServicePrincipal' });
      expect(moduleParameters('durableTaskScheduler').principalId).toEqual({ value: "[reference('identity').principalId]" });
      // The same identity the app runs as (user-assigned), whose client id the connection names.
      expect(moduleParameters('durableTaskScheduler').identityId).toEqual(moduleParameters('functionApp').identityId);
    });

    it('DurableTaskScheduler: the app gets the connection host.json names — the scheduler\'s endpoint, managed identity, the user-assigned identity\'s client id — and no host.json override', () => {
      // The endpoint is read from the scheduler resource (properties.endpoint), never built by hand.
      expect((dts.outputs as Record<string, JsonObject>).endpoint.value).toBe("[reference('scheduler').endpoint]");
      const { evaluator, reads } = evaluateMain('DurableTaskScheduler');
      expect(evaluator.evaluate(moduleParameters('functionApp').durableTaskSchedulerEndpoint as Json)).toEqual({ value: ENDPOINT });
      expect(reads).toEqual(['durableTaskScheduler']);
      expect(evaluator.evaluate((main.outputs as Record<string, JsonObject>).durableTaskSchedulerEndpoint.value)).toBe(ENDPOINT);
      // The app runs as a user-assigned identity, so the connection must name its client id.
      expect(one(ofType(main, 'Microsoft.Web/sites'), 'site').resource.identity).toMatchObject({ type: 'UserAssigned' });
      expect(moduleParameters('functionApp').identityClientId).toEqual({ value: "[reference('identity').clientId]" });
      const { names, settings } = evaluateSite({ durableBackend: 'DurableTaskScheduler', durableTaskSchedulerEndpoint: ENDPOINT });
      const connection = DURABLE_BACKENDS.DurableTaskScheduler.connectionSetting;
      expect(settings[connection]).toBe(`Endpoint=${ENDPOINT};Authentication=ManagedIdentity;ClientID=<identityClientId>`);
      expect(names.filter((name) => name.startsWith(HOST_OVERRIDE_PREFIX))).toEqual([]);
      // The default backend needs no parameter at all.
      expect(evaluateSite({ durableTaskSchedulerEndpoint: ENDPOINT }).settings[connection]).toBe(settings[connection]);
    });

    it('AzureStorage: no scheduler; app settings turn host.json\'s provider into Azure Storage on AzureWebJobsStorage, polling queues at most 1 s apart', () => {
      const { evaluator, reads } = evaluateMain('AzureStorage');
      expect(evaluator.evaluate(moduleParameters('functionApp').durableTaskSchedulerEndpoint as Json)).toEqual({ value: '' });
      expect(evaluator.evaluate((main.outputs as Record<string, JsonObject>).durableTaskSchedulerEndpoint.value)).toBe('');
      expect(reads).toEqual([]); // the skipped scheduler module is never read
      const { settings } = evaluateSite({ durableBackend: 'AzureStorage' });
      expect(settings).toMatchObject(DURABLE_BACKENDS.AzureStorage.hostJsonOverrides);
      expect(Object.keys(settings).filter((name) => name.startsWith(HOST_OVERRIDE_PREFIX)).sort()).toEqual(Object.keys(DURABLE_BACKENDS.AzureStorage.hostJsonOverrides).sort());
      expect(Object.keys(settings)).not.toContain(DURABLE_BACKENDS.DurableTaskScheduler.connectionSetting);
      // What the host then runs with: host.json + these overrides.
      expect(durableTaskSection(withHostOverrides(readHostJson(), settings)).storageProvider).toEqual({
        type: 'AzureStorage',
        connectionStringName: 'AzureWebJobsStorage',
        maxQueuePollingInterval: '00:00:01',
      });
      // The connection it names is the identity-based one.
      expect(settings).toMatchObject({ AzureWebJobsStorage__accountName: '<storageAccountName>', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: '<identityClientId>' });
    });

    it('grants the storage data roles each backend needs: blob only with the Durable Task Scheduler, blob + queue + table with Azure Storage', () => {
      const storage = nestedTemplate(moduleOf(main, 'storage'));
      const granted = (durableBackend: DurableBackend) =>
        Object.values(
          new TemplateEvaluator(storage, { location: 'westeurope', name: 'pgfost', deploymentContainerName: 'app-package', principalId: 'p', identityId: 'i', durableBackend }).variable('roles') as Record<string, string>,
        ).sort();
      expect(granted('DurableTaskScheduler')).toEqual([...DURABLE_BACKENDS.DurableTaskScheduler.storageRoles]);
      expect(granted('AzureStorage')).toEqual([...DURABLE_BACKENDS.AzureStorage.storageRoles]);
      // The assignments loop over exactly that map.
      const assignments = one(ofType(storage, 'Microsoft.Authorization/roleAssignments'), 'storage roles').resource;
      expect((assignments.copy as JsonObject).count).toBe("[length(items(variables('roles')))]");
      expect(props(assignments).roleDefinitionId).toBe("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', items(variables('roles'))[copyIndex()].value)]");
    });

    it('host.json names the Durable Task Scheduler provider with the connection setting the Bicep sets, and the task hub from TASK_HUB_NAME', () => {
      const durableTask = durableTaskSection(readHostJson());
      expect(durableTask.storageProvider).toEqual(DURABLE_BACKENDS.DurableTaskScheduler.hostJsonStorageProvider);
      expect(durableTask.hubName).toBe(`%${DEPLOYED_APP_SETTINGS.taskHubName}%`);
      const variables = nestedTemplate(moduleOf(main, 'functionApp')).variables as JsonObject;
      expect(variables.durableTaskSchedulerConnectionSetting).toBe(DURABLE_BACKENDS.DurableTaskScheduler.hostJsonStorageProvider.connectionStringName);
      expect(DURABLE_BACKENDS.DurableTaskScheduler.connectionSetting).toBe(DURABLE_BACKENDS.DurableTaskScheduler.hostJsonStorageProvider.connectionStringName);
    });
  });

  describe('the configuration types (types.bicep)', () => {
    type Definition = { type?: string; properties?: Record<string, Definition>; nullable?: boolean; allowedValues?: string[]; $ref?: string; items?: Definition };
    const definitions = () => main.definitions as Record<string, Definition>;
    const resolve = (definition: Definition): Definition => (definition.$ref ? definitions()[definition.$ref.replace('#/definitions/', '')] : definition);
    const inner = (field: z.ZodType): z.ZodType => {
      let schema = field;
      while (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
      return schema;
    };
    /** What differs between a Bicep object type and the zod object it stands for, field by field (nested objects too). */
    const differences = (path: string, definition: Definition, schema: z.ZodType): string[] => {
      const object = inner(schema);
      if (!(object instanceof z.ZodObject)) return [`${path}: the schema has no object here`];
      const type = resolve(definition);
      const shape = object.shape as Record<string, z.ZodType>;
      const names = [...new Set([...Object.keys(shape), ...Object.keys(type.properties ?? {})])].sort();
      return names.flatMap((name) => {
        const field = shape[name];
        const property = type.properties?.[name];
        if (!field) return [`${path}.${name}: in types.bicep, not in the app's schema (the app would refuse it)`];
        if (!property) return [`${path}.${name}: in the app's schema, not in types.bicep`];
        const optional = field.safeParse(undefined).success;
        const problems = optional === !!(property.nullable || resolve(property).nullable) ? [] : [`${path}.${name}: ${optional ? 'optional' : 'required'} in the schema`];
        const value = inner(field);
        if (value instanceof z.ZodEnum) {
          const allowed = [...(property.allowedValues ?? resolve(property).allowedValues ?? [])].sort();
          if (JSON.stringify(allowed) !== JSON.stringify([...value.options].sort())) problems.push(`${path}.${name}: allows ${allowed.join(', ')}, the schema ${value.options.join(', ')}`);
        }
        if (value instanceof z.ZodObject) problems.push(...differences(`${path}.${name}`, property, value));
        if (value instanceof z.ZodArray && inner(value.element as z.ZodType) instanceof z.ZodObject) problems.push(...differences(`${path}.${name}[]`, resolve(property).items!, value.element as z.ZodType));
        return problems;
      });
    };

    it("types clusterConfig exactly as the app's schema reads it: every field, which are required, the values an enum allows", () => {
      const clusterConfig = (main.parameters as Record<string, Definition>).clusterConfig;
      expect(differences('clusterConfig', clusterConfig, ConfigSchema)).toEqual([]);
    });
  });

  describe('secrets', () => {
    it('writes Key Vault secrets only for the sample cluster (its two passwords, from its secure parameters); the vault uses RBAC, no access policies', () => {
      const secrets = ofType(main, 'Microsoft.KeyVault/vaults/secrets');
      expect(secrets.map((l) => [l.modulePath.join('/'), l.symbol]).sort()).toEqual([
        ['sample', 'adminPasswordSecret'],
        ['sample', 'replicationPasswordSecret'],
      ]);
      expect(moduleOf(main, 'sample').condition).toBe("[parameters('deploySampleCluster')]");
      expect(Object.fromEntries(secrets.map((l) => [l.symbol, [l.resource.name, props(l.resource).value]]))).toEqual({
        adminPasswordSecret: ["[format('{0}/{1}', parameters('keyVaultName'), parameters('adminPasswordSecretName'))]", "[parameters('postgresAdminPassword')]"],
        replicationPasswordSecret: ["[format('{0}/{1}', parameters('keyVaultName'), parameters('replicationPasswordSecretName'))]", "[parameters('replicationPassword')]"],
      });
      const vault = one(ofType(main, 'Microsoft.KeyVault/vaults'), 'key vault').resource;
      expect(props(vault)).toMatchObject({ enableRbacAuthorization: true, enableSoftDelete: true });
      expect(props(vault).accessPolicies).toBeUndefined();
    });

    it('keeps the sample passwords in secure parameters with no default value, used only as the Key Vault secrets\' values and the admin password\'s Run Command protected parameter', () => {
      expect(secureParameters(main).sort()).toEqual(['samplePostgresAdminPassword', 'sampleReplicationPassword']);
      for (const name of secureParameters(main)) expect(((main.parameters as JsonObject)[name] as JsonObject).defaultValue ?? '').toBe('');
      const sample = nestedTemplate(moduleOf(main, 'sample'));
      expect(secureParameters(sample).sort()).toEqual(['postgresAdminPassword', 'replicationPassword']);
      for (const name of secureParameters(sample)) expect(((sample.parameters as JsonObject)[name] as JsonObject).defaultValue).toBeUndefined();
      // Where each is used: the secret's value; the admin password also as the Run Command's one
      // protected parameter. Never in the VMs' custom data (or anywhere else).
      const uses = (name: string) =>
        resourcesOf(sample).flatMap(([symbol, r]) => (JSON.stringify(r).match(new RegExp(`parameters\\('${name}'\\)`, 'g')) ?? []).map(() => symbol));
      expect(uses('replicationPassword')).toEqual(['replicationPasswordSecret']);
      expect(uses('postgresAdminPassword').sort()).toEqual(['adminPasswordCommand', 'adminPasswordSecret']);
      for (const name of secureParameters(sample)) expect(JSON.stringify(sample).match(new RegExp(`parameters\\('${name}'\\)`, 'g'))).toHaveLength(uses(name).length);
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
            // A key read with list*() is a secret too.
            if (secure.some((name) => text.includes(`parameters('${name}')`)) || /list[A-Z]\w*\(/.test(text)) expect([param, nestedSecure.has(param)]).toEqual([param, true]);
          }
        }
        // No output of any template reads a key or passes a secure value on.
        expect(outputs).not.toMatch(/list[A-Z]\w*\(/);
        expect(outputs).not.toMatch(/functionKey|host\/default/i);
      }
      for (const durableBackend of BACKENDS) {
        const settings = JSON.stringify(evaluateSite({ durableBackend, durableTaskSchedulerEndpoint: 'https://dts.example' }).settings);
        expect(settings).not.toMatch(/password|secret|AccountKey|SharedAccessSignature|listKeys|functionKey/i);
      }
    });

    it('reads no key of the app for the sample VMs: no listKeys, no function key parameter, no reference to the app\'s keys', () => {
      expect(mainText).not.toMatch(/listKeys|host\/default|functionKey/);
      const sample = nestedTemplate(moduleOf(main, 'sample'));
      expect(Object.keys(sample.parameters as JsonObject)).not.toContain('functionKey');
      // (The shipped agent files, install.sh's refusal of the old --key-file among them, left out.)
      const own = { ...sample, variables: Object.fromEntries(Object.entries(sample.variables as JsonObject).filter(([name]) => !name.startsWith('$fxv#'))) };
      expect(JSON.stringify(own)).not.toMatch(/functionKey|FUNCTION_KEY|key-file|x-functions-key/i);
      // The app is not read by name for its keys any more.
      expect(resourcesOf(main).filter(([, r]) => r.type === 'Microsoft.Web/sites' && r.existing === true)).toEqual([]);
      expect(JSON.stringify(sample.outputs ?? {})).not.toMatch(/functionKey|password/i);
    });

    it('gives the app only secret NAMES in its configuration', () => {
      const effective = JSON.stringify((main.variables as JsonObject).sampleCluster);
      expect(effective).toContain('"adminPasswordSecret":"pg-admin-password"');
      expect(effective).toContain('"replicationPasswordSecret":"pg-replication-password"');
      expect(effective).not.toMatch(/parameters\('sample\w*Password'\)/);
    });
  });

  describe('the sample cluster modules (network, then the VMs)', () => {
    let sample: Template;
    let sampleNetwork: Template;
    beforeAll(() => {
      sample = nestedTemplate(moduleOf(main, 'sample'));
      sampleNetwork = nestedTemplate(moduleOf(main, 'sampleNetwork'));
    });

    it('are deployed only when deploySampleCluster is true', () => {
      expect(moduleOf(main, 'sample').condition).toBe("[parameters('deploySampleCluster')]");
      expect(moduleOf(main, 'sampleNetwork').condition).toBe("[parameters('deploySampleCluster')]");
      expect(((main.parameters as JsonObject).deploySampleCluster as JsonObject).defaultValue).toBe(false);
    });

    it('deploy in the order network → Function App → VMs, with no dependency cycle', () => {
      const graph = dependencies(main);
      const parameters = props(moduleOf(main, 'sample')).parameters as JsonObject;
      expect(findCycle(graph)).toBeUndefined();
      // The app integrates into the network's Functions subnet...
      expect(graph.functionApp).toContain('sampleNetwork');
      expect(graph.functionApp).not.toContain('sample');
      expect(graph.sampleNetwork).not.toContain('functionApp');
      // ...and the VMs' cloud-init needs the app's URL and the vault's: the VMs come after both, through parameters.
      expect(graph.sample).toEqual(expect.arrayContaining(['functionApp', 'sampleNetwork', 'keyVault']));
      expect(parameters.keyVaultUri).toEqual({ value: "[reference('keyVault').outputs.uri.value]" });
      expect(parameters.appUrl).toEqual({ value: "[format('https://{0}', reference('functionApp').outputs.defaultHostName.value)]" });
      expect(parameters.nicIds).toEqual({ value: "[reference('sampleNetwork').outputs.nicIds.value]" });
      // Roles wait for what they are granted on.
      expect(graph.vmRoles).toContain('sample');
      for (const module of ['nicRoles', 'loadBalancerRoles', 'subnetRoles']) expect(graph[module]).toContain('sampleNetwork');
      // The network module holds no VM, the VM module no network resource: the VMs, their passwords in the vault and their grants on them.
      expect(ofType(sampleNetwork, 'Microsoft.Compute/virtualMachines')).toHaveLength(0);
      expect(resourcesOf(sample).map(([symbol, r]) => `${r.existing === true ? 'existing ' : ''}${r.type} ${symbol}`).sort()).toEqual([
        'Microsoft.Authorization/roleAssignments replicationPasswordReaders',
        'Microsoft.Compute/availabilitySets availabilitySet',
        'Microsoft.Compute/virtualMachines vms',
        'Microsoft.Compute/virtualMachines/runCommands adminPasswordCommand',
        'Microsoft.KeyVault/vaults/secrets adminPasswordSecret',
        'Microsoft.KeyVault/vaults/secrets replicationPasswordSecret',
        'existing Microsoft.KeyVault/vaults vault',
      ]);
      // The replication secret exists before the VMs boot and ask for it; the grants come after
      // the VMs (their identities); the admin password's Run Command after pg1.
      const inner = dependencies(sample);
      expect(inner.vms).toEqual(expect.arrayContaining(['replicationPasswordSecret']));
      expect(inner.vms).not.toContain('adminPasswordSecret');
      expect(inner.replicationPasswordReaders).toEqual(expect.arrayContaining(['replicationPasswordSecret', "[format('vms[{0}]', copyIndex())]"]));
      expect(inner.adminPasswordCommand).toEqual(["[format('vms[{0}]', 0)]"]);
    });

    it('has three Debian 12 VMs across availability zones (or an availability set), SSH-key login only', () => {
      expect(String(sampleLayout(main).nodes)).toMatch(/^\[map\(range\(1, 3\), /);
      const vms = one(ofType(sample, 'Microsoft.Compute/virtualMachines'), 'VMs').resource;
      expect((vms.copy as JsonObject).count).toBe("[length(parameters('layout').nodes)]");
      expect(JSON.stringify(vms.zones)).toContain("parameters('zones')");
      expect(JSON.stringify(props(vms).availabilitySet)).toContain('Microsoft.Compute/availabilitySets');
      expect((props(vms).storageProfile as JsonObject).imageReference).toEqual({ publisher: 'Debian', offer: 'debian-12', sku: '12-gen2', version: 'latest' });
      expect(((props(vms).osProfile as JsonObject).linuxConfiguration as JsonObject).disablePasswordAuthentication).toBe(true);
      // Each VM has its own identity: its agent's tokens for the app, its reads from Key Vault.
      expect(vms.identity).toEqual({ type: 'SystemAssigned' });
      const zones = ((main.parameters as JsonObject).sampleZones as JsonObject).defaultValue;
      expect(zones).toEqual(['1', '2', '3']);
    });

    it('installs and replicates PostgreSQL 15 and installs the agent with cloud-init: every placeholder filled, no secure parameter among them', () => {
      const vms = one(ofType(sample, 'Microsoft.Compute/virtualMachines'), 'VMs').resource;
      const customData = String((props(vms).osProfile as JsonObject).customData);
      expect(customData).toMatch(/^\[base64\(reduce\(items\(union\(variables\('shippedFiles'\), createObject\(/);
      const cloudInit = readFileSync(join(BICEP_SOURCE_DIR, 'modules', 'cloud-init', 'pg-node.yaml'), 'utf8');
      const placeholders = [...new Set(cloudInit.match(/\{\{[A-Z0-9_]+\}\}/g))];
      expect(placeholders.sort()).toEqual(
        [
          '{{NODE_NAME}}',
          '{{PRIMARY_ADDRESS}}',
          '{{NETWORK_CIDR}}',
          '{{REPLICATION_USER}}',
          '{{KEY_VAULT_URL}}',
          '{{REPLICATION_PASSWORD_SECRET}}',
          '{{ROLE}}',
          '{{VM_NAME}}',
          '{{CLUSTER_NAME}}',
          '{{APP_URL}}',
          '{{NODE_AUTH_AUDIENCE}}',
          '{{READ_ADDRESS_ARGUMENT}}',
          '{{NODE_AGENT_ARGUMENTS}}',
          '{{FETCH_SECRET_SH}}',
          '{{AGENT_BUNDLE}}',
        ].sort(),
      );
      // Each placeholder is a key of the replacements (the per-node object or the shipped files), and nothing else is.
      const replaced = [...[...customData.matchAll(/'(\{\{[A-Z0-9_]+\}\})'/g)].map((m) => m[1]), ...Object.keys((sample.variables as JsonObject).shippedFiles as JsonObject)];
      expect(replaced.sort()).toEqual(placeholders.sort());
      for (const name of secureParameters(sample)) expect(customData).not.toContain(`parameters('${name}')`);
      // Not even the admin password's secret NAME: no VM reads it.
      expect(customData).not.toContain('adminPasswordSecretName');
      expect(cloudInit).not.toMatch(/ADMIN_PASSWORD|admin_pw|ADMIN_PW/i);
      expect(customData).not.toMatch(/base64\(parameters/);
      expect(customData).toContain("'{{KEY_VAULT_URL}}', parameters('keyVaultUri')");
      expect(customData).toContain("'{{NODE_AUTH_AUDIENCE}}', parameters('nodeAuthAudience')");
      expect(customData).toContain("if(equals(copyIndex(), 0), 'primary', 'standby')");
      // The compiled template carries the cloud-init text and the shipped files themselves.
      expect(JSON.stringify(sample.variables)).toContain('wal_log_hints = on');
      // (A plain variable, as Bicep keeps it; compared as a boolean so that a failure prints no 45 KB.)
      expect(Object.values(sample.variables as JsonObject).includes(readFileSync(AGENT_BUNDLE).toString('base64'))).toBe(true);
      expect(Object.values(sample.variables as JsonObject)).toContain(readFileSync(join(BICEP_SOURCE_DIR, 'modules', 'cloud-init', 'fetch-secret.sh'), 'utf8'));
      expect(cloudInit).toContain('postgresql-15');
      expect(cloudInit).toMatch(/pg_basebackup" -w .* -X stream -R/s);
      expect(cloudInit).toContain('WITH REPLICATION LOGIN');
      expect(cloudInit).not.toMatch(/NOT INSTALLED/);
      // No secret placeholder is left in the template: no password, no key.
      expect(cloudInit).not.toMatch(/_B64\}\}|PASSWORD_B64|FUNCTION_KEY|key-file|\/etc\/pg-sample/);
    });

    it('grants each VM\'s identity Key Vault Secrets User on the replication password only, each assignment scoped to that secret', () => {
      const readers = Object.fromEntries(ofType(sample, 'Microsoft.Authorization/roleAssignments').map((l) => [l.symbol, l.resource]));
      const role = "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('keyVaultSecretsUser'))]";
      expect((sample.variables as JsonObject).keyVaultSecretsUser).toBe(SAMPLE_SECRETS.role);
      expect(readers.replicationPasswordReaders.scope).toBe("[resourceId('Microsoft.KeyVault/vaults/secrets', parameters('keyVaultName'), parameters('replicationPasswordSecretName'))]");
      expect((readers.replicationPasswordReaders.copy as JsonObject).count).toBe("[length(parameters('layout').nodes)]");
      expect(props(readers.replicationPasswordReaders)).toMatchObject({
        roleDefinitionId: role,
        principalId: "[reference(format('vms[{0}]', copyIndex()), '2025-04-01', 'full').identity.principalId]",
        principalType: 'ServicePrincipal',
      });
      expect(Object.keys(readers)).toEqual(['replicationPasswordReaders']);
      // Named from the secret, the VM and the role: a second deployment finds the same assignments.
      expect(readers.replicationPasswordReaders.name).toBe(
        "[guid(resourceId('Microsoft.KeyVault/vaults/secrets', parameters('keyVaultName'), parameters('replicationPasswordSecretName')), resourceId('Microsoft.Compute/virtualMachines', parameters('layout').nodes[copyIndex()].vmName), variables('keyVaultSecretsUser'))]",
      );
      // The sample module gets the configuration's secret names and the deployment's vault.
      expect(props(moduleOf(main, 'sample')).parameters).toMatchObject({
        keyVaultName: { value: "[variables('names').keyVault]" },
        adminPasswordSecretName: { value: "[variables('sampleCluster').postgres.adminPasswordSecret]" },
        replicationPasswordSecretName: { value: "[variables('sampleCluster').postgres.replicationPasswordSecret]" },
      });
    });

    describe('the admin password: a managed Run Command on pg1, the password only as a protected parameter', () => {
      const command = () => one(ofType(sample, 'Microsoft.Compute/virtualMachines/runCommands'), 'Run Command');
      const script = (): string => {
        const source = (props(command().resource).source as JsonObject).script;
        expect(source).toBe("[variables('setAdminPasswordScript')]");
        const text = (sample.variables as JsonObject).setAdminPasswordScript;
        expect(typeof text).toBe('string');
        return String(text);
      };

      it('exists once in the whole deployment, on pg1 (a child of vms[0], after it), and fails the deployment when it fails', () => {
        expect(ofType(main, 'Microsoft.Compute/virtualMachines/runCommands').map((l) => [l.modulePath.join('/'), l.symbol])).toEqual([['sample', 'adminPasswordCommand']]);
        const { resource } = command();
        expect(resource.copy).toBeUndefined();
        expect(resource.apiVersion).toBe('2025-04-01');
        expect(resource.name).toBe("[format('{0}/{1}', parameters('layout').nodes[0].vmName, 'pg-sample-admin-password')]");
        expect(resource.dependsOn).toEqual(["[format('vms[{0}]', 0)]"]);
        expect(props(resource)).toMatchObject({ asyncExecution: false, treatFailureAsDeploymentFailure: true, timeoutInSeconds: 3600 });
        // Not one of the app's runs (pgfo-*), which it sweeps and deletes.
        expect(String(resource.name)).not.toContain('pgfo-');
      });

      it('carries the password only as its one protected parameter, from the secure parameter; no plain parameter, nothing in the script', () => {
        const p = props(command().resource);
        expect(p.protectedParameters).toEqual([{ name: 'PG_ADMIN_PASSWORD', value: "[parameters('postgresAdminPassword')]" }]);
        expect(p.parameters).toBeUndefined();
        expect(Object.keys(p).sort()).toEqual(['asyncExecution', 'protectedParameters', 'source', 'timeoutInSeconds', 'treatFailureAsDeploymentFailure']);
        // The script is constant text: no expression, no parameter.
        expect(script().startsWith('#!/bin/bash\n')).toBe(true);
        expect(script()).not.toMatch(/parameters\(|\[format|postgresAdminPassword/);
      });

      it('is bash that shellcheck passes; waits for cloud-init, then sets the role\'s password through psql\'s stdin and environment only', () => {
        const dir = mkdtempSync(join(tmpdir(), 'pg-sample-admin-password-'));
        try {
          const file = join(dir, 'set-admin-password.sh');
          writeFileSync(file, script());
          expect(spawnSync('bash', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
          const shellcheck = spawnSync('shellcheck', ['-s', 'bash', file], { encoding: 'utf8' });
          if (shellcheck.error) throw new Error(`shellcheck is needed to check the Run Command script: ${shellcheck.error.message}`);
          expect(shellcheck.stdout + shellcheck.stderr).toBe('');
          // Stand-ins: cloud-init (exit code from CLOUD_INIT_STATUS), runuser (runs the command as
          // is), psql (answers pg_is_in_recovery() with RECOVERY). Each logs its arguments, whether
          // the password is in its environment, and psql its stdin.
          const bin = join(dir, 'bin');
          mkdirSync(bin);
          const logged = 'printf \'%s\' "${0##*/}" >>"$CALLS"; printf \' %q\' "$@" >>"$CALLS"; if [[ -n ${PG_ADMIN_PASSWORD+x} ]]; then echo \' [password in env]\' >>"$CALLS"; else echo >>"$CALLS"; fi\n';
          writeFileSync(join(bin, 'cloud-init'), `#!/bin/bash\n${logged}[[ $2 != --wait ]] || exit "\${CLOUD_INIT_STATUS:-0}"\n`, { mode: 0o755 });
          writeFileSync(join(bin, 'runuser'), `#!/bin/bash\n${logged}while [[ $1 != -- ]]; do shift; done\nshift\nexec "$@"\n`, { mode: 0o755 });
          writeFileSync(
            join(bin, 'psql'),
            `#!/bin/bash\n${logged}if [[ " $* " == *" -c SELECT pg_is_in_recovery() "* ]]; then echo "\${RECOVERY:-f}"; exit 0; fi\ncat >>"$STDIN_LOG"\nprintf '%s' "$PG_ADMIN_PASSWORD" >"$SEEN"\n`,
            { mode: 0o755 },
          );
          const run = (env: Record<string, string>) => {
            for (const log of ['calls', 'stdin', 'seen']) rmSync(join(dir, log), { force: true });
            const result = spawnSync('bash', [file], {
              encoding: 'utf8',
              env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, CALLS: join(dir, 'calls'), STDIN_LOG: join(dir, 'stdin'), SEEN: join(dir, 'seen'), PG_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
            });
            const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');
            return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls: read('calls').trim().split('\n'), stdin: read('stdin'), seen: read('seen') };
          };

          const ok = run({});
          expect({ status: ok.status, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ status: 0, stdout: 'PG_SAMPLE_ADMIN_PASSWORD_RESULT=ok\n', stderr: '' });
          // cloud-init first; the password only in the environment of the runuser/psql that set it.
          expect(ok.calls).toEqual([
            'cloud-init status --wait',
            'runuser -u postgres -- psql -XAtq -c SELECT\\ pg_is_in_recovery\\(\\)',
            'psql -XAtq -c SELECT\\ pg_is_in_recovery\\(\\)',
            'runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 [password in env]',
            'psql -X -q -v ON_ERROR_STOP=1 [password in env]',
          ]);
          expect(ok.seen).toBe(ADMIN_PASSWORD);
          expect(ok.stdin.split('\n')).toEqual(expect.arrayContaining(['\\getenv pw PG_ADMIN_PASSWORD', "ALTER ROLE postgres WITH PASSWORD :'pw';", "SET log_min_error_statement = 'panic';", '\\set VERBOSITY terse']));
          expect(ok.stdin.indexOf('log_min_error_statement')).toBeLessThan(ok.stdin.indexOf('ALTER ROLE'));
          for (const text of [ok.calls.join('\n'), ok.stdin, ok.stdout, ok.stderr]) expect(text).not.toContain(ADMIN_PASSWORD);

          // cloud-init 23.4+ answers 2 for "done, with warnings": go on.
          expect(run({ CLOUD_INIT_STATUS: '2' }).stdout).toBe('PG_SAMPLE_ADMIN_PASSWORD_RESULT=ok\n');
          // The setup failed: say so, fail the Run Command (and so the deployment), touch nothing.
          const failed = run({ CLOUD_INIT_STATUS: '1' });
          expect(failed.status).toBe(1);
          expect(failed.stdout).toMatch(/^PG_SAMPLE_ADMIN_PASSWORD_RESULT=failed reason=cloud-init-status-1: /m);
          expect(failed.calls).toEqual(['cloud-init status --wait', 'cloud-init status --long']);
          // A later deployment that finds pg1 a standby leaves the role alone.
          const standby = run({ RECOVERY: 't' });
          expect({ status: standby.status, stdout: standby.stdout, stdin: standby.stdin }).toEqual({
            status: 0,
            stdout: 'PG_SAMPLE_ADMIN_PASSWORD_RESULT=skipped reason=not-the-primary: the role replicates from the primary, set its password there\n',
            stdin: '',
          });
          // No password given: fail before anything runs.
          const none = run({ PG_ADMIN_PASSWORD: '' });
          expect({ status: none.status, stdout: none.stdout, calls: none.calls }).toEqual({ status: 1, stdout: 'PG_SAMPLE_ADMIN_PASSWORD_RESULT=failed reason=no-PG_ADMIN_PASSWORD\n', calls: [''] });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });

    it('keeps every ARM expression under the 24,576-character limit (the agent\'s files are plain variables, not expression text)', () => {
      const longest = (value: Json): number => {
        if (typeof value === 'string') return value.startsWith('[') && !value.startsWith('[[') ? value.length : 0;
        if (Array.isArray(value)) return Math.max(0, ...value.map(longest));
        if (value && typeof value === 'object') return Math.max(0, ...Object.values(value).map(longest));
        return 0;
      };
      expect(longest(main)).toBeLessThanOrEqual(24576);
    });

    it('outputs no password and no key', () => {
      for (const template of [sample, sampleNetwork]) expect(JSON.stringify(template.outputs)).not.toMatch(/password|key/i);
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

    it.each(['probe', 'pools'])('with the sample cluster in %s mode: the roles its mode needs, and a configuration that passes the app\'s schema', (mode) => {
      const parameters = { ...exampleParameters('main.sample.parameters.example.json'), ...(mode === 'pools' ? { sampleLoadBalancing: 'pools' } : {}) };
      const evaluator = new TemplateEvaluator(main, parameters);
      const rg = `/subscriptions/${sub}/resourceGroups/rg-pg-failover`;
      const databaseSubnet = `${rg}/providers/Microsoft.Network/virtualNetworks/pgtry-pg-vnet/subnets/pg-db`;
      expect(evaluator.variable('vmIds')).toEqual([1, 2, 3].map((n) => `${rg}/providers/Microsoft.Compute/virtualMachines/pgtry-pg${n}`));
      expect(evaluator.variable('loadBalancerIds')).toEqual([`${rg}/providers/Microsoft.Network/loadBalancers/pgtry-pg-ilb`]);
      // The app's access restrictions admit the database subnet (the agents call the app) in both modes...
      expect(evaluator.variable('subnetIds')).toEqual([databaseSubnet]);
      // ...but only pools mode edits NICs: roles on them and their subnet only there.
      expect(evaluator.variable('nicIds')).toEqual(mode === 'pools' ? [1, 2, 3].map((n) => `${rg}/providers/Microsoft.Network/networkInterfaces/pgtry-pg${n}-nic`) : []);
      expect(evaluator.variable('nicSubnetIds')).toEqual(mode === 'pools' ? [databaseSubnet] : []);
      const config = parseConfig(appConfig(evaluator), CONFIG_SETTING);
      expect(config.clusters.map((c) => c.name)).toEqual(['sample']);
      const [cluster] = config.clusters;
      expect(cluster.nodes.map((n) => [n.name, n.host, n.port, n.nicResourceId])).toEqual(
        [1, 2, 3].map((n) => [`pg${n}`, `10.50.1.${9 + n}`, 5432, mode === 'pools' ? `${rg}/providers/Microsoft.Network/networkInterfaces/pgtry-pg${n}-nic` : undefined]),
      );
      expect(cluster.loadBalancer).toMatchObject({ writePool: 'pg-write', readPool: 'pg-read', membership: mode === 'pools' ? 'nic' : 'probe', agentPort: 8432 });
      expect(cluster.postgres).toMatchObject({ replicationUser: 'replicator', dataDirectory: '/var/lib/postgresql/15/main', serviceName: 'postgresql@15-main' });
      // Probe mode: the node steps go to the agents, trusted by the certificates they enroll through the app, which therefore writes secrets.
      expect(cluster.nodeAgent).toEqual(mode === 'probe' ? { stepsPort: 8433, stepKeySecretPrefix: 'sample-step-key', certificateSecretPrefix: 'sample-step-cert' } : undefined);
      const vaultParameters = props(moduleOf(main, 'keyVault')).parameters as JsonObject;
      expect((evaluator.evaluate((vaultParameters.allowSecretWrites as JsonObject).value as Json))).toBe(mode === 'probe');
      const layout = evaluator.variable('sampleLayout') as JsonObject;
      expect([layout.writeFrontendAddress, layout.readFrontendAddress]).toEqual(['10.50.1.100', '10.50.1.101']);
      // The app is integrated with the sample's Functions subnet.
      const subnet = (props(moduleOf(main, 'functionApp')).parameters as JsonObject).subnetId;
      expect((evaluator.evaluate(subnet as Json) as JsonObject).value).toBe(`${rg}/providers/Microsoft.Network/virtualNetworks/pgtry-pg-vnet/subnets/pg-functions`);
      // Probe mode is the sample's default.
      expect(((main.parameters as JsonObject).sampleLoadBalancing as JsonObject).defaultValue).toBe('probe');
    });

    it("lets the app write secrets only when a cluster's agents enroll (nodeAgent pins certificates)", () => {
      const base = exampleParameters('main.parameters.example.json');
      const allowSecretWrites = (parameters: Record<string, Json>) =>
        new TemplateEvaluator(main, parameters).evaluate(((props(moduleOf(main, 'keyVault')).parameters as JsonObject).allowSecretWrites as JsonObject).value as Json);
      expect(allowSecretWrites(base)).toBe(false);
      const config = structuredClone(base.clusterConfig) as { clusters: Record<string, unknown>[] };
      config.clusters[0].nodeAgent = { stepKeySecretPrefix: 'orders-step-key' };
      expect(allowSecretWrites({ ...base, clusterConfig: config as unknown as Json })).toBe(false);
      config.clusters[0].nodeAgent = { stepKeySecretPrefix: 'orders-step-key', certificateSecretPrefix: 'orders-step-cert' };
      expect(allowSecretWrites({ ...base, clusterConfig: config as unknown as Json })).toBe(true);
    });

    /** The sample deployment as ARM would run it: secure parameters given, module outputs answered (no key of the app is ever read). */
    const sampleDeployment = (overrides: Record<string, Json> = {}) => {
      const parameters = {
        ...exampleParameters('main.sample.parameters.example.json'),
        sampleSshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest pgadmin@test',
        samplePostgresAdminPassword: ADMIN_PASSWORD,
        sampleReplicationPassword: REPLICATION_PASSWORD,
        nodeAuthAudience: NODE_AUTH_AUDIENCE,
        ...overrides,
      };
      const rg = `/subscriptions/${sub}/resourceGroups/rg-pg-failover`;
      const names = new TemplateEvaluator(main, parameters).variable('names') as JsonObject;
      const appName = String(names.functionApp);
      const app = { id: `${rg}/providers/Microsoft.Web/sites/${appName}`, hostName: `${appName}.azurewebsites.net` };
      const vault = { name: String(names.keyVault), uri: `https://${String(names.keyVault)}.vault.azure.net/` };
      const nicIds = [1, 2, 3].map((n) => `${rg}/providers/Microsoft.Network/networkInterfaces/pgtry-pg${n}-nic`);
      const runtime: Record<string, Json> = {
        functionApp: { outputs: { id: { value: app.id }, name: { value: appName }, defaultHostName: { value: app.hostName } } },
        sampleNetwork: { outputs: { nicIds: { value: nicIds } } },
        keyVault: { outputs: { name: { value: vault.name }, uri: { value: vault.uri } } },
      };
      const evaluator = new TemplateEvaluator(main, parameters, {
        subscriptionId: sub,
        resourceGroup: 'rg-pg-failover',
        location: 'westeurope',
        runtime: { reference: (target) => runtime[target] },
      });
      /** The values main.bicep passes to a module (parameters of the nested deployment). */
      const moduleParameters = (symbol: string): Record<string, Json> =>
        Object.fromEntries(Object.entries(evaluator.evaluate(props(moduleOf(main, symbol)).parameters as Json) as Record<string, { value: Json }>).map(([name, p]) => [name, p.value]));
      /** One value main.bicep passes to a module (the others may read outputs this test does not answer). */
      const moduleParameter = (symbol: string, name: string): Json =>
        (evaluator.evaluate(((props(moduleOf(main, symbol)).parameters as JsonObject)[name] as JsonObject) as Json) as { value: Json }).value;
      return { evaluator, app, vault, moduleParameters, moduleParameter };
    };

    /** The decoded cloud-init of sample node `index` (0 = pg1, the primary). */
    const sampleCloudInit = (deployment: ReturnType<typeof sampleDeployment>, index: number): string => {
      const nested = nestedTemplate(moduleOf(main, 'sample'));
      const vms = one(ofType(nested, 'Microsoft.Compute/virtualMachines'), 'VMs').resource;
      const expression = String((props(vms).osProfile as JsonObject).customData).replace(/copyIndex\(\)/g, String(index));
      const evaluator = new TemplateEvaluator(nested, deployment.moduleParameters('sample'));
      return Buffer.from(String(evaluator.evaluate(expression)), 'base64').toString('utf8');
    };

    it('hands the sample VMs the app\'s URL, the audience of their tokens, the vault and the secret names, and the vault its passwords; no key of the app', () => {
      const deployment = sampleDeployment();
      const parameters = deployment.moduleParameters('sample');
      expect(parameters).toMatchObject({
        appUrl: `https://${deployment.app.hostName}`,
        clusterName: 'sample',
        nodeAuthAudience: NODE_AUTH_AUDIENCE,
        keyVaultName: deployment.vault.name,
        keyVaultUri: deployment.vault.uri,
        adminPasswordSecretName: SAMPLE_SECRETS.adminPassword,
        replicationPasswordSecretName: SAMPLE_SECRETS.replicationPassword,
        postgresAdminPassword: ADMIN_PASSWORD,
        replicationPassword: REPLICATION_PASSWORD,
      });
      expect(Object.keys(parameters)).not.toContain('functionKey');
      // The app gets the same audience and the deployment's tenant.
      expect(deployment.moduleParameter('functionApp', 'nodeAuthAudience')).toBe(NODE_AUTH_AUDIENCE);
      // The secrets are the ones the app's configuration names, in the vault the app reads.
      const config = parseConfig(JSON.parse(String(deployment.moduleParameter('functionApp', 'clusterConfigJson'))), CONFIG_SETTING);
      expect(config.clusters[0].postgres).toMatchObject({ adminPasswordSecret: SAMPLE_SECRETS.adminPassword, replicationPasswordSecret: SAMPLE_SECRETS.replicationPassword });
      expect(deployment.moduleParameter('functionApp', 'keyVaultUri')).toBe(deployment.vault.uri);
      const sample = nestedTemplate(moduleOf(main, 'sample'));
      const inner = new TemplateEvaluator(sample, parameters);
      const secretIds = Object.fromEntries(
        ofType(sample, 'Microsoft.KeyVault/vaults/secrets').map((l) => [l.symbol, [inner.evaluate(l.resource.name as Json), inner.evaluate(props(l.resource).value as Json)]]),
      );
      expect(secretIds).toEqual({
        adminPasswordSecret: [`${deployment.vault.name}/${SAMPLE_SECRETS.adminPassword}`, ADMIN_PASSWORD],
        replicationPasswordSecret: [`${deployment.vault.name}/${SAMPLE_SECRETS.replicationPassword}`, REPLICATION_PASSWORD],
      });
      // The admin password goes to pg1 only, as the one protected parameter of its Run Command.
      const commands = ofType(sample, 'Microsoft.Compute/virtualMachines/runCommands');
      expect(commands.map((l) => [inner.evaluate(l.resource.name as Json), inner.evaluate(props(l.resource).protectedParameters as Json)])).toEqual([
        ['pgtry-pg1/pg-sample-admin-password', [{ name: 'PG_ADMIN_PASSWORD', value: ADMIN_PASSWORD }]],
      ]);
      // Which VM may read which secret: the role assignments evaluated node by node.
      const rg = `/subscriptions/${sub}/resourceGroups/rg-pg-failover`;
      const readers: Record<string, string[]> = {};
      for (const l of ofType(sample, 'Microsoft.Authorization/roleAssignments')) {
        const count = l.resource.copy ? 3 : 1;
        for (let i = 0; i < count; i++) {
          const at = (expression: Json) => new TemplateEvaluator(sample, parameters, { subscriptionId: sub, resourceGroup: 'rg-pg-failover', location: 'westeurope' }).evaluate(String(expression).replace(/copyIndex\(\)/g, String(i)));
          const principal = /format\('vms\[\{0\}\]', (\d+)\)/.exec(String(props(l.resource).principalId).replace(/copyIndex\(\)/g, String(i)))![1];
          const node = `pg${Number(principal) + 1}`;
          const scope = String(at(l.resource.scope as Json));
          expect(scope.startsWith(`${rg}/providers/Microsoft.KeyVault/vaults/${deployment.vault.name}/secrets/`)).toBe(true);
          (readers[node] ??= []).push(scope.split('/').pop()!);
        }
      }
      for (const node of Object.keys(readers)) readers[node].sort();
      // The replication password on every node (any node may become a standby), the admin password
      // on none: it reaches pg1 only as a protected parameter of a Run Command.
      expect(readers).toEqual(SAMPLE_SECRETS.readByNode);
    });

    it('refuses to deploy the sample without nodeAuthAudience (the agents could not authenticate), before anything is deployed', () => {
      expect(() => sampleDeployment({ nodeAuthAudience: '' }).moduleParameter('functionApp', 'nodeAuthAudience')).toThrow(/fail\(\): nodeAuthAudience is required with a cluster/);
      expect(() => sampleDeployment({ nodeAuthAudience: '' }).moduleParameters('sample')).toThrow(/nodeAuthAudience is required/);
      // A variable: ARM evaluates it when the deployment starts, before any resource.
      expect(JSON.stringify((main.variables as JsonObject).checkedNodeAuthAudience)).toContain("fail('nodeAuthAudience is required");
      // And the module itself would not take an empty one.
      expect((nestedTemplate(moduleOf(main, 'sample')).parameters as Record<string, JsonObject>).nodeAuthAudience).toMatchObject({ type: 'string', minLength: 1 });
      expect(sampleDeployment().moduleParameters('sample').nodeAuthAudience).toBe(NODE_AUTH_AUDIENCE);
    });

    describe.each(['probe', 'pools'])('the sample network in %s mode (sample-network.bicep evaluated)', (mode) => {
      const WRITE_POOL = '<write pool id>';
      const READ_POOL = '<read pool id>';
      let network: { lb: JsonObject; nics: JsonObject[]; nsgRules: JsonObject[] };
      beforeAll(() => {
        const deployment = sampleDeployment(mode === 'pools' ? { sampleLoadBalancing: 'pools' } : {});
        const nested = nestedTemplate(moduleOf(main, 'sampleNetwork'));
        const runtimeState: Record<string, Json> = { loadBalancer: { backendAddressPools: [{ id: WRITE_POOL }, { id: READ_POOL }] }, vnet: { subnets: [{ id: '<database subnet id>' }] } };
        const evaluator = new TemplateEvaluator(nested, deployment.moduleParameters('sampleNetwork'), {
          subscriptionId: sub,
          resourceGroup: 'rg-pg-failover',
          location: 'westeurope',
          // The NICs and frontends name the pools and the subnet by the resources' runtime state.
          runtime: { reference: (target) => runtimeState[target] },
        });
        const at = (resource: ArmResource, i: number) => evaluator.evaluate(JSON.parse(JSON.stringify(props(resource)).replace(/copyIndex\(\)/g, String(i))) as Json) as JsonObject;
        const nic = one(ofType(nested, 'Microsoft.Network/networkInterfaces'), 'NICs').resource;
        network = {
          lb: at(one(ofType(nested, 'Microsoft.Network/loadBalancers'), 'load balancer').resource, 0),
          nics: [0, 1, 2].map((i) => at(nic, i)),
          nsgRules: (at(one(ofType(nested, 'Microsoft.Network/networkSecurityGroups'), 'NSG').resource, 0).securityRules as JsonObject[]).map((r) => r.properties as JsonObject),
        };
        expect(mode === 'pools' ? 'pools' : 'probe').toBe(deployment.moduleParameters('sampleNetwork').loadBalancing);
      });

      it('an internal Standard load balancer: write and read frontends, pg-write and pg-read pools, a rule each on 5432', () => {
        const frontends = network.lb.frontendIPConfigurations as JsonObject[];
        expect(frontends.map((f) => [(f.properties as JsonObject).privateIPAddress, (f.properties as JsonObject).publicIPAddress])).toEqual([
          ['10.50.1.100', undefined],
          ['10.50.1.101', undefined],
        ]);
        expect(network.lb.backendAddressPools).toEqual([{ name: 'pg-write' }, { name: 'pg-read' }]);
        const rules = (network.lb.loadBalancingRules as JsonObject[]).map((r) => r.properties as JsonObject);
        expect(rules.map((r) => [String((r.backendAddressPool as JsonObject).id).split('/').pop(), String((r.probe as JsonObject).id).split('/').pop(), r.frontendPort, r.backendPort, r.enableFloatingIP, r.enableTcpReset])).toEqual([
          ['pg-write', 'pg-write-probe', 5432, 5432, false, true],
          ['pg-read', 'pg-read-probe', 5432, 5432, false, true],
        ]);
      });

      if (mode === 'probe') {
        it('HTTP probes of the agents, /primary for the write rule and /replica for the read rule, every 5 s, one answer moving a node (the realistic bench profile)', () => {
          expect((network.lb.probes as JsonObject[]).map((p) => [p.name, p.properties])).toEqual([
            ['pg-write-probe', { protocol: 'Http', port: 8432, requestPath: '/primary', intervalInSeconds: 5, probeThreshold: 1 }],
            ['pg-read-probe', { protocol: 'Http', port: 8432, requestPath: '/replica', intervalInSeconds: 5, probeThreshold: 1 }],
          ]);
        });

        it('every node in both pools for good: its first IP configuration in the write pool, its second (its read address) in the read pool, never one address behind both rules', () => {
          expect(network.nics.map((nic) => (nic.ipConfigurations as JsonObject[]).map((c) => [c.name, (c.properties as JsonObject).privateIPAddress, (c.properties as JsonObject).primary, (c.properties as JsonObject).loadBalancerBackendAddressPools]))).toEqual(
            [1, 2, 3].map((n) => [
              ['ipconfig1', `10.50.1.${9 + n}`, true, [{ id: WRITE_POOL }]],
              ['ipconfig2', `10.50.1.${19 + n}`, false, [{ id: READ_POOL }]],
            ]),
          );
        });

        it('lets in 5432 from the network and the probes, the agents\' port from the probes, the nodes and the app\'s subnet only, their steps port from the app\'s subnet only, and nothing else', () => {
          expect(network.nsgRules.filter((r) => r.access === 'Allow').map((r) => [r.sourceAddressPrefix ?? r.sourceAddressPrefixes, r.destinationPortRange, r.protocol])).toEqual([
            ['VirtualNetwork', '5432', 'Tcp'],
            ['AzureLoadBalancer', '5432', 'Tcp'],
            ['AzureLoadBalancer', '8432', 'Tcp'],
            [['10.50.1.0/24', '10.50.2.0/24'], '8432', 'Tcp'],
            ['10.50.2.0/24', '8433', 'Tcp'],
          ]);
          expect(network.nsgRules.find((r) => r.access === 'Deny')).toMatchObject({ sourceAddressPrefix: '*', destinationPortRange: '*' });
        });
      } else {
        it('TCP probes on 5432, node 1 alone in the write pool and the standbys in the read pool at first (the app moves them)', () => {
          expect((network.lb.probes as JsonObject[]).map((p) => [p.name, p.properties])).toEqual([
            ['pg-write-probe', { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }],
            ['pg-read-probe', { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }],
          ]);
          expect(network.nics.map((nic) => (nic.ipConfigurations as JsonObject[]).map((c) => [c.name, (c.properties as JsonObject).loadBalancerBackendAddressPools]))).toEqual([
            [['ipconfig1', [{ id: WRITE_POOL }]]],
            [['ipconfig1', [{ id: READ_POOL }]]],
            [['ipconfig1', [{ id: READ_POOL }]]],
          ]);
        });

        it('lets 5432 in from the virtual network and the load balancer probe, and nothing else', () => {
          expect(network.nsgRules.filter((r) => r.access === 'Allow').map((r) => [r.sourceAddressPrefix, r.destinationPortRange, r.protocol]).sort()).toEqual([
            ['AzureLoadBalancer', '5432', 'Tcp'],
            ['VirtualNetwork', '5432', 'Tcp'],
          ]);
        });
      }
    });

    describe.each(['probe', 'pools'])('the sample VMs\' cloud-init in %s mode (custom data decoded)', (mode) => {
      const probe = mode === 'probe';
      let deployment: ReturnType<typeof sampleDeployment>;
      let cloudInits: string[];
      beforeAll(() => {
        deployment = sampleDeployment(probe ? {} : { sampleLoadBalancing: 'pools' });
        cloudInits = [0, 1, 2].map((i) => sampleCloudInit(deployment, i));
      });
      const FETCH_SECRET = join(BICEP_SOURCE_DIR, 'modules', 'cloud-init', 'fetch-secret.sh');
      /** A cloud-init's files as they land on the VM (a b64 entry decoded). */
      const landed = (text: string): Record<string, { content: Buffer; permissions: string; owner: string }> =>
        Object.fromEntries(
          Object.values(writeFiles(text)).map((entry) => [
            entry.path,
            { content: entry.encoding === 'b64' ? Buffer.from(entry.content, 'base64') : Buffer.from(entry.content), permissions: entry.permissions, owner: entry.owner },
          ]),
        );
      /** The bundle unpacked as the first runcmd line does, into a fresh directory: its path → content. */
      const unpack = (bundle: Buffer, into: string): Record<string, string> => {
        mkdirSync(into, { recursive: true });
        writeFileSync(join(into, 'bundle.tar.xz'), bundle);
        const run = spawnSync('tar', ['-xJf', join(into, 'bundle.tar.xz'), '-C', into, '--no-same-owner'], { encoding: 'utf8' });
        expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
        const root = join(into, AGENT_BUNDLE_DIR);
        return Object.fromEntries(
          readdirSync(root, { recursive: true, withFileTypes: true })
            .filter((entry) => entry.isFile())
            .map((entry) => [relative(root, join(entry.parentPath, entry.name)), readFileSync(join(entry.parentPath, entry.name), 'utf8')]),
        );
      };

      it('fills every placeholder and stays within Azure\'s 64 KB custom data limit (with 1 KB to spare for longer names)', () => {
        for (const text of cloudInits) {
          expect(text.startsWith('#cloud-config\n')).toBe(true);
          expect(text.match(/\{\{[A-Z0-9_]+\}\}/g) ?? []).toEqual([]);
          const bytes = Buffer.byteLength(text, 'utf8');
          expect(bytes + 1024).toBeLessThanOrEqual(SAMPLE_AGENT_INSTALL.customDataMaxBytes);
        }
        // A shipped text holding a placeholder would be filled in too: none does.
        expect(readFileSync(FETCH_SECRET, 'utf8')).not.toMatch(/\{\{[A-Z0-9_]+\}\}/);
      });

      it('carries the committed agent bundle — every file of agent/ but its README, byte for byte, and the digests of the VM scripts the app sends (npm run build:agent-bundle after a change to either) — and the boot script as text', () => {
        const inRepo = readdirSync(join(REPO_ROOT, 'agent'), { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile() && !entry.name.endsWith('.pyc'))
          .map((entry) => relative(join(REPO_ROOT, 'agent'), join(entry.parentPath, entry.name)))
          .filter((file) => file !== 'README.md')
          .sort();
        expect(agentBundleFiles()).toEqual(inRepo);
        const dir = mkdtempSync(join(tmpdir(), 'pg-agent-bundle-'));
        try {
          cloudInits.forEach((text, i) => {
            const files = landed(text);
            expect(Object.keys(files).sort()).toEqual([SAMPLE_AGENT_INSTALL.bundle, SAMPLE_SECRETS.fetchScript, '/usr/local/sbin/pg-sample-setup'].sort());
            const bundle = files[SAMPLE_AGENT_INSTALL.bundle];
            expect([bundle.owner, bundle.permissions]).toEqual(['root:root', '0600']);
            expect(bundle.content.equals(readFileSync(AGENT_BUNDLE))).toBe(true);
            const unpacked = unpack(bundle.content, join(dir, String(i)));
            expect(Object.keys(unpacked).sort()).toEqual([...inRepo, SCRIPT_DIGESTS_FILE].sort());
            for (const file of inRepo) expect([file, unpacked[file]]).toEqual([file, readFileSync(join(REPO_ROOT, 'agent', file), 'utf8')]);
            expect(unpacked[SCRIPT_DIGESTS_FILE]).toBe(vmScriptDigests());
            const fetch = files[SAMPLE_SECRETS.fetchScript];
            expect([fetch.owner, fetch.permissions, fetch.content.toString('utf8')]).toEqual(['root:root', '0700', readFileSync(FETCH_SECRET, 'utf8')]);
          });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it(`carries no secret — no password, no key — only the vault's URL and the replication secret's name; unpacks the agent, runs the setup, then install.sh${probe ? ' with the node agent and the read address' : ''}`, () => {
        cloudInits.forEach((text, i) => {
          const node = `pg${i + 1}`;
          for (const secret of [ADMIN_PASSWORD, REPLICATION_PASSWORD]) {
            expect(text).not.toContain(secret);
            expect(text).not.toContain(Buffer.from(secret).toString('base64'));
          }
          // The admin password is not read on any node: its secret is not even named.
          expect(text).not.toContain(SAMPLE_SECRETS.adminPassword);
          // Outside the shipped files: no trace of a key.
          const own = [JSON.stringify(runcmd(text)), landed(text)['/usr/local/sbin/pg-sample-setup'].content.toString('utf8')].join('\n');
          expect(own).not.toMatch(/function-key|key-file|FUNCTION_KEY|x-functions-key|\/etc\/pg-sample/);
          const peers = [1, 2, 3].filter((n) => n !== i + 1).map((n) => `pg${n}=10.50.1.${9 + n}:8432`).join(',');
          expect(runcmd(text)).toEqual([
            ['tar', '-xJf', SAMPLE_AGENT_INSTALL.bundle, '-C', dirname(SAMPLE_AGENT_INSTALL.sourceDir), '--no-same-owner'],
            [
              '/usr/local/sbin/pg-sample-setup',
              i === 0 ? 'primary' : 'standby',
              node,
              '10.50.1.10',
              '10.50.0.0/16',
              'replicator',
              deployment.vault.uri,
              SAMPLE_SECRETS.replicationPassword,
              ...(probe ? [`10.50.1.${20 + i}/24`] : []),
            ],
            [
              'bash',
              `${SAMPLE_AGENT_INSTALL.sourceDir}/install.sh`,
              '--app-url',
              `https://${deployment.app.hostName}`,
              '--cluster',
              'sample',
              '--node',
              node,
              '--vm-name',
              `pgtry-${node}`,
              '--app-resource',
              NODE_AUTH_AUDIENCE,
              '--pg-service',
              SAMPLE_AGENT_INSTALL.pgService,
              ...(probe
                ? ['--node-address', `10.50.1.${10 + i}`, '--peers', peers, '--probe-port', '8432', '--steps-port', '8433', '--steps-tls-cert', SNAKEOIL.certificate, '--steps-tls-key', SNAKEOIL.key, '--enroll-steps']
                : []),
            ],
          ]);
        });
      });

      it('is valid YAML that says the same (when python3 with PyYAML is there to parse it)', () => {
        const parse = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: cloudInits[0], encoding: 'utf8' });
        if (parse.error || parse.status !== 0) {
          console.warn(`python3 with PyYAML is not available (${parse.error?.message ?? parse.stderr.trim().split('\n').pop()}): the decoded cloud-init was checked line by line only`);
          return;
        }
        const document = JSON.parse(parse.stdout) as { write_files: Array<Record<string, string>>; runcmd: string[][]; packages: string[] };
        // xz-utils unpacks the agent bundle (a stock image may lack it); polkitd lets the node agent control PostgreSQL.
        expect(document.packages).toEqual(['postgresql-15', 'polkitd', 'xz-utils']);
        expect(document.runcmd).toEqual(runcmd(cloudInits[0]));
        const lineByLine = writeFiles(cloudInits[0]);
        for (const entry of document.write_files) expect(entry).toEqual(lineByLine[entry.path]);
        expect(document.write_files.map((e) => e.path).sort()).toEqual(Object.keys(lineByLine).sort());
      });

      it(`installs the agent when its runcmd lines are run (the bundle unpacked, install.sh --root into a temp dir): configuration without a secret, programs, units${probe ? ', the node agent with its peers' : ''}`, () => {
        const dir = mkdtempSync(join(tmpdir(), 'pg-node-agent-'));
        try {
          const fs = join(dir, 'vm');
          const [untar, , install] = runcmd(cloudInits[0]);
          unpack(landed(cloudInits[0])[untar[2]].content, join(fs, untar[4]));
          const [shell, program, ...args] = install;
          const target = join(dir, 'target');
          // The image's snakeoil certificate and key, made here where the VM's would be.
          const snakeoil = { certificate: join(dir, 'snakeoil.pem'), key: join(dir, 'snakeoil.key') };
          execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=pgtry-pg1', '-keyout', snakeoil.key, '-out', snakeoil.certificate], { stdio: 'ignore' });
          const onThisMachine = args.map((arg) => (arg === SNAKEOIL.certificate ? snakeoil.certificate : arg === SNAKEOIL.key ? snakeoil.key : arg));
          const run = spawnSync(shell, [join(fs, program), ...onThisMachine, '--root', target, '--no-start'], { encoding: 'utf8' });
          expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
          expect(run.stdout).toMatch(/^PGFO_AGENT \{"agent":"install","outcome":"installed",/m);
          const env = join(target, 'etc', 'pg-failover', 'agent.env');
          expect(statSync(env).mode & 0o777).toBe(0o600);
          expect(readFileSync(env, 'utf8').split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([
            `PGFO_APP_URL=https://${deployment.app.hostName}`,
            'PGFO_CLUSTER=sample',
            'PGFO_NODE=pg1',
            'PGFO_VM_NAME=pgtry-pg1',
            `PGFO_APP_RESOURCE=${NODE_AUTH_AUDIENCE}`,
            'PGFO_SHUTDOWN_TIMEOUT_SECONDS=120',
          ]);
          expect(readFileSync(join(target, 'etc', 'systemd', 'system', 'pg-failover-shutdown-hook.service.d', '10-postgresql.conf'), 'utf8')).toContain(`After=${SAMPLE_AGENT_INSTALL.pgService}`);
          for (const file of ['scheduled-events-agent.sh', 'shutdown-hook.sh', 'lib.sh']) {
            expect(readFileSync(join(target, 'usr', 'local', 'lib', 'pg-failover-agent', file), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'agent', file), 'utf8'));
          }
          const units = ['pg-failover-scheduled-events.service', 'pg-failover-shutdown-hook.service', 'pg-failover-node-agent.service', 'pg-failover-step-enrollment.service'];
          expect(units.map((unit) => existsSync(join(target, 'etc', 'systemd', 'system', unit)))).toEqual([true, true, probe, probe]);
          const nodeAgentEnv = join(target, 'etc', 'pg-failover', 'node-agent.env');
          if (probe) {
            expect(readFileSync(nodeAgentEnv, 'utf8').split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([
              'PGFO_NODE=pg1',
              'PGFO_NODE_ADDRESS=10.50.1.10',
              'PGFO_PEERS=pg2=10.50.1.11:8432,pg3=10.50.1.12:8432',
              'PGFO_PROBE_LISTEN=0.0.0.0:8432',
              'PGFO_STEPS_LISTEN=10.50.1.10:8433',
              `PGFO_STEPS_TLS_CERT=${snakeoil.certificate}`,
              `PGFO_STEPS_TLS_KEY=${snakeoil.key}`,
              'PGFO_STEPS_KEY_FILE=/run/credentials/pg-failover-node-agent.service/step-key',
              'PGFO_STEPS_SCRIPT_DIGESTS=/usr/local/lib/pg-failover-agent/vm-scripts.sha256',
            ]);
            // The step key made on the node, which its enrollment gives the app: no key travels in the custom data.
            expect(Buffer.from(readFileSync(join(target, 'etc', 'pg-failover', 'step-key'), 'utf8').trim(), 'base64')).toHaveLength(32);
            expect(readFileSync(join(target, 'etc', 'systemd', 'system', 'pg-failover-step-enrollment.service.d', '10-certificate.conf'), 'utf8')).toContain(`LoadCredential=steps.crt:${snakeoil.certificate}\n`);
          } else {
            expect(existsSync(nodeAgentEnv)).toBe(false);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });

    describe('the Event Grid subscription for vmPowerEvents', () => {
      let module: ArmResource;
      let nested: Template;
      beforeAll(() => {
        module = moduleOf(main, 'vmPowerEvents');
        nested = nestedTemplate(module);
      });
      const withApp = (parameters: Record<string, Json>) => {
        const rg = `/subscriptions/${sub}/resourceGroups/rg-pg-failover`;
        const appName = String((new TemplateEvaluator(main, parameters).variable('names') as JsonObject).functionApp);
        const appId = `${rg}/providers/Microsoft.Web/sites/${appName}`;
        const evaluator = new TemplateEvaluator(main, parameters, {
          subscriptionId: sub,
          resourceGroup: 'rg-pg-failover',
          location: 'westeurope',
          runtime: { reference: (target) => (target === 'functionApp' ? { outputs: { id: { value: appId } } } : undefined) },
        });
        const first = (expression: Json) => evaluator.evaluate(String(expression).replace(/copyIndex\(\)/g, '0'));
        return { evaluator, appId, first };
      };

      it('is deployed only with deployEventSubscription=true (false by default: the function must exist first)', () => {
        expect(((main.parameters as JsonObject).deployEventSubscription as JsonObject).defaultValue).toBe(false);
        const base = exampleParameters('main.parameters.example.json');
        expect(new TemplateEvaluator(main, base).evaluate(module.condition as Json)).toBe(false);
        expect(new TemplateEvaluator(main, { ...base, deployEventSubscription: true }).evaluate(module.condition as Json)).toBe(true);
      });

      it('has one system topic per resource group holding cluster VMs, deployed into that group', () => {
        const base = exampleParameters('main.parameters.example.json');
        const { evaluator, first, appId } = withApp({ ...base, deployEventSubscription: true });
        expect((module.copy as JsonObject).count).toBe("[length(variables('vmResourceGroupIds'))]");
        expect(evaluator.variable('vmResourceGroupIds')).toEqual(['/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-orders-db']);
        expect([first(module.subscriptionId as Json), first(module.resourceGroup as Json)]).toEqual(['00000000-0000-0000-0000-000000000000', 'rg-orders-db']);
        const parameters = evaluator.evaluate(props(module).parameters as Json) as Record<string, { value: Json }>;
        expect(parameters.functionResourceId.value).toBe(`${appId}/functions/${VM_POWER_EVENT_SUBSCRIPTION.functionName}`);
        // VMs spread over groups and subscriptions (one group spelt two ways): one topic per group.
        const cluster = (base.clusterConfig as { clusters: Array<{ nodes: JsonObject[] }> }).clusters[0];
        const vm = (subscription: string, group: string, name: string) => `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`;
        const spread = {
          clusters: [
            {
              ...cluster,
              nodes: [
                { ...cluster.nodes[0], vmResourceId: vm('00000000-0000-0000-0000-000000000000', 'rg-orders-db', 'a') },
                { ...cluster.nodes[1], vmResourceId: vm('00000000-0000-0000-0000-000000000000', 'RG-Orders-DB', 'b') },
                { ...cluster.nodes[2], vmResourceId: vm('22222222-2222-2222-2222-222222222222', 'rg-dr', 'c') },
              ],
            },
          ],
        };
        expect(new TemplateEvaluator(main, { ...base, clusterConfig: spread as unknown as Json }).variable('vmResourceGroupIds')).toEqual([
          '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-orders-db',
          '/subscriptions/22222222-2222-2222-2222-222222222222/resourcegroups/rg-dr',
        ]);
        // The sample cluster's VMs are in the deployment's own resource group.
        expect(new TemplateEvaluator(main, exampleParameters('main.sample.parameters.example.json')).variable('vmResourceGroupIds')).toEqual([
          `/subscriptions/${sub}/resourcegroups/rg-pg-failover`,
        ]);
      });

      it('makes a resource-group system topic and delivers ResourceActionSuccess of the three VM power actions to the vmPowerEvents function', () => {
        const topic = one(ofType(nested, 'Microsoft.EventGrid/systemTopics'), 'system topic').resource;
        expect(topic.location).toBe('global');
        expect(props(topic)).toEqual({ source: '[resourceGroup().id]', topicType: 'Microsoft.Resources.ResourceGroups' });
        const subscription = one(ofType(nested, 'Microsoft.EventGrid/systemTopics/eventSubscriptions'), 'event subscription').resource;
        const p = props(subscription);
        expect(p.destination).toEqual({ endpointType: 'AzureFunction', properties: { resourceId: "[parameters('functionResourceId')]", maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 } });
        expect(p.eventDeliverySchema).toBe('EventGridSchema');
        const filter = p.filter as JsonObject;
        expect(filter.includedEventTypes).toEqual([VM_POWER_EVENT_SUBSCRIPTION.eventType]);
        const evaluator = new TemplateEvaluator(nested, { systemTopicName: 'pgfo-vm-power-events', functionResourceId: '/x/functions/vmPowerEvents' });
        expect(evaluator.evaluate(filter.advancedFilters)).toEqual([{ operatorType: 'StringIn', key: 'data.operationName', values: [...VM_POWER_EVENT_SUBSCRIPTION.operationNames] }]);
      });

      it('matches the app: the trigger\'s name, its event type and the operations it acts on', () => {
        expect(VM_POWER_EVENT_SUBSCRIPTION.eventType).toBe(RESOURCE_ACTION_SUCCESS);
        expect(VM_POWER_EVENT_SUBSCRIPTION.operationNames.map((name) => name.toLowerCase()).sort()).toEqual(Object.keys(VM_POWER_ACTIONS).sort());
        const source = readFileSync(join(REPO_ROOT, 'src', 'functions', 'event-grid-vm-power.ts'), 'utf8');
        expect(source).toMatch(new RegExp(`app\\.eventGrid(<[^>]*>)?\\('${VM_POWER_EVENT_SUBSCRIPTION.functionName}'`));
      });
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

describe('host.json and the Durable backends (no Bicep CLI needed)', () => {
  it('names the Durable Task Scheduler provider ("azureManaged", which needs extension bundle 4.32.0 or later) and its connection setting', () => {
    const host = readHostJson();
    expect(durableTaskSection(host).storageProvider).toEqual(DURABLE_BACKENDS.DurableTaskScheduler.hostJsonStorageProvider);
    const bundle = host.extensionBundle as JsonObject;
    expect(bundle.id).toBe('Microsoft.Azure.Functions.ExtensionBundle');
    const lower = /^\[(\d+)\.(\d+)\.(\d+), 5\.0\.0\)$/.exec(String(bundle.version));
    expect(lower).not.toBeNull();
    const [major, minor] = [Number(lower![1]), Number(lower![2])];
    expect(major === 4 && minor >= 32).toBe(true);
  });

  it('becomes the Azure Storage provider on AzureWebJobsStorage under the AzureStorage overrides, with no trace of the DTS connection left', () => {
    const provider = durableTaskSection(withHostOverrides(readHostJson(), DURABLE_BACKENDS.AzureStorage.hostJsonOverrides)).storageProvider as JsonObject;
    expect(provider).toEqual({ type: 'AzureStorage', connectionStringName: 'AzureWebJobsStorage', maxQueuePollingInterval: '00:00:01' });
    expect(JSON.stringify(provider)).not.toContain(DURABLE_BACKENDS.DurableTaskScheduler.connectionSetting);
  });

  it('local.settings.json keeps the local settings and gives the DTS connection a local (emulator) value', () => {
    const values = (JSON.parse(readFileSync(join(REPO_ROOT, 'local.settings.json'), 'utf8')) as { Values: Record<string, string> }).Values;
    expect(values).toMatchObject({ FUNCTIONS_WORKER_RUNTIME: 'node', AzureWebJobsStorage: 'UseDevelopmentStorage=true', [DEPLOYED_APP_SETTINGS.taskHubName]: expect.any(String) });
    expect(values[DURABLE_BACKENDS.DurableTaskScheduler.connectionSetting]).toMatch(/^Endpoint=http:\/\/localhost:\d+;Authentication=None$/);
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

  it('probe mode (an 8th argument): a unit adds the read address to the default route\'s interface at every boot, before PostgreSQL and the agent; none without it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-sample-setup-'));
    try {
      const units = join(dir, 'units');
      const bin = join(dir, 'bin');
      mkdirSync(units);
      mkdirSync(bin);
      // Only the start runs: the (absent) Key Vault fetcher then stops it. ip and systemctl are recorded.
      writeFileSync(join(dir, 'setup'), setupScript().replaceAll('/etc/systemd/system/', `${units}/`));
      writeFileSync(join(bin, 'ip'), `#!/bin/bash\necho "ip $*" >> ${dir}/calls\necho 'default via 10.50.1.1 dev eth0 proto dhcp src 10.50.1.11 metric 100'\n`, { mode: 0o755 });
      writeFileSync(join(bin, 'systemctl'), `#!/bin/bash\necho "systemctl $*" >> ${dir}/calls\n`, { mode: 0o755 });
      const args = ['standby', 'pg2', '10.50.1.10', '10.50.0.0/16', 'replicator', 'https://v.vault.azure.net/', 'pg-replication-password'];
      const run = (extra: string[]) => spawnSync('bash', [join(dir, 'setup'), ...args, ...extra], { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}` } });

      const withRead = run(['10.50.1.21/24']);
      expect(withRead.stdout).toContain('PG_SAMPLE_SETUP_RESULT=failed role=standby node=pg2 reason=no-secret-pg-replication-password');
      expect(readFileSync(join(units, 'pg-sample-read-address.service'), 'utf8').split('\n')).toEqual(
        expect.arrayContaining([
          'Before=postgresql@15-main.service pg-failover-node-agent.service',
          'Type=oneshot',
          'ExecStart=/usr/sbin/ip address replace 10.50.1.21/24 dev eth0',
          'WantedBy=multi-user.target',
        ]),
      );
      expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')).toEqual(['ip -o -4 route show default', 'systemctl daemon-reload', 'systemctl enable --now pg-sample-read-address.service']);

      rmSync(join(units, 'pg-sample-read-address.service'));
      rmSync(join(dir, 'calls'));
      run([]);
      expect([existsSync(join(units, 'pg-sample-read-address.service')), existsSync(join(dir, 'calls'))]).toEqual([false, false]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes the VM's own snakeoil key before PostgreSQL restarts with it (an image could carry one shared by every VM; the app pins each node's)", () => {
    const lines = setupScript().split('\n').map((line) => line.trim());
    const made = lines.indexOf('make-ssl-cert generate-default-snakeoil --force-overwrite');
    expect(made).toBeGreaterThan(0);
    const restarts = lines.flatMap((line, i) => (/^systemctl (restart|start) "\$unit"$/.test(line) ? [i] : []));
    expect(restarts.length).toBeGreaterThan(0);
    expect(restarts.every((i) => i > made)).toBe(true);
  });

  it('reads the replication password from Key Vault through /run (tmpfs) only, into .pgpass; never the admin password', () => {
    const script = setupScript();
    const lines = script.split('\n').map((line) => line.trim());
    expect(lines).toContain(`secrets=${SAMPLE_SECRETS.runDir}`);
    expect(lines).toContain(`${SAMPLE_SECRETS.fetchScript} "$vault" "$1" "$secrets/$1" && return`);
    expect(lines).toContain(`trap 'rm -rf -- "$secrets"' EXIT`);
    // The replication secret (argument 7) on every node, and no other secret: the deployment sets
    // the admin password with a Run Command.
    expect(script.match(/^\s*fetch "\$\d"$/gm)).toEqual(['fetch "$7"']);
    expect(script).not.toMatch(/\$8|ADMIN|admin_pw|ALTER ROLE postgres/);
    // Read into a shell variable, then the directory is gone before anything else runs.
    const removed = lines.indexOf('rm -rf -- "$secrets"');
    const reads = lines.flatMap((line, i) => (line.includes('$(cat "$secrets/') ? [i] : []));
    expect(reads).toHaveLength(1);
    expect(removed).toBeGreaterThan(Math.max(...reads));
    expect(removed).toBeLessThan(lines.findIndex((line) => line.includes('conf.d')));
    expect(script).not.toMatch(/\/etc\/pg-sample|password-file|_B64/);
    // What stays: the replication password in the postgres user's .pgpass (0600), which PostgreSQL reads.
    expect(script).toContain('install -m 0600 -o postgres -g postgres /dev/null /var/lib/postgresql/.pgpass');
  });

  it('never puts a password on a command line or in the environment of later programs: psql reads it with \\getenv, pg_basebackup from .pgpass', () => {
    const script = setupScript();
    expect(script).toContain('\\getenv repl_pw REPL_PW');
    expect(script).not.toMatch(/psql[^\n]*(REPL_PW|ADMIN_PW|repl_pw)/);
    // Not exported: in the environment of the one psql that sets the role's password, by an
    // assignment on that command only, and unset before the standbys clone (pg_basebackup).
    expect(script).not.toMatch(/\bexport\b|declare -x|set -a/);
    const lines = script.split('\n').map((line) => line.trim());
    expect(lines.filter((line) => /REPL_PW=/.test(line))).toEqual([expect.stringMatching(/^REPL_PW="\$repl_pw" runuser -u postgres -- env REPL_USER="\$repl_user" psql /)]);
    const unset = lines.indexOf('unset repl_pw escaped');
    const uses = lines.flatMap((line, i) => (line.includes('$repl_pw') ? [i] : []));
    expect(uses).toHaveLength(2); // the primary's psql, .pgpass
    expect(unset).toBeGreaterThan(Math.max(...uses));
    expect(unset).toBeLessThan(lines.findIndex((line) => line.includes('pg_basebackup')));
    expect(script).toMatch(/PGPASSFILE=\/var\/lib\/postgresql\/.pgpass "\$bin\/pg_basebackup" -w/);
  });
});
