/**
 * The private network (main.bicep privateNetwork), checked on the compiled ARM JSON with the
 * project's evaluator: when it is on, which private endpoints exist (group id, DNS zone, target),
 * which networks resolve them, that Key Vault and storage lose public network access, how the
 * app's public endpoint is restricted (Event Grid can only deliver there), and the explicit
 * failure when it is on without a subnet for the endpoints.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BICEP_SOURCE_DIR } from '../../../scripts/bicep/build';
import { ArmResource, buildIntoTemp, describeWithBicep, Json, JsonObject, moduleOf, nestedTemplate, ofType, readTemplate, resourcesOf, Template } from './arm';
import { TemplateEvaluator } from './arm-eval';

const SUB = '11111111-1111-1111-1111-111111111111';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-pg-failover`;
const CONTEXT = { subscriptionId: SUB, resourceGroup: 'rg-pg-failover', location: 'westeurope' };

/** What each private endpoint group needs as its DNS zone (Azure public cloud). */
const ZONES: Record<string, string> = {
  vault: 'privatelink.vaultcore.azure.net',
  blob: 'privatelink.blob.core.windows.net',
  queue: 'privatelink.queue.core.windows.net',
  table: 'privatelink.table.core.windows.net',
  sites: 'privatelink.azurewebsites.net',
};

/** Resource ids the module outputs stand for at run time. */
const IDS = {
  keyVault: `${RG}/providers/Microsoft.KeyVault/vaults/pgtry-kv`,
  storage: `${RG}/providers/Microsoft.Storage/storageAccounts/pgtryst`,
  functionApp: `${RG}/providers/Microsoft.Web/sites/pgtry-func`,
};

const SAMPLE_VNET = `${RG}/providers/Microsoft.Network/virtualNetworks/pgtry-pg-vnet`;

/** A non-sample deployment's networks: endpoints and Functions in two VNets, database subnets in those and a third. */
const netId = (rg: string, vnet: string) => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${vnet}`;
const OWN = {
  endpointSubnet: `${netId('rg-network', 'vnet-db')}/subnets/snet-private-endpoints`,
  functionsSubnet: `${netId('rg-network', 'vnet-apps')}/subnets/snet-functions`,
  databaseSubnets: [`${netId('RG-Network', 'VNET-DB')}/subnets/snet-db`, `${netId('rg-dr', 'vnet-dr')}/subnets/snet-db`],
};

const props = (resource: ArmResource | undefined): JsonObject => (resource?.properties ?? {}) as JsonObject;
/** A copy-loop resource as iteration `index` sees it. */
const atIndex = (resource: ArmResource, index: number): Json => JSON.parse(JSON.stringify(resource).replace(/copyIndex\(\)/g, String(index))) as Json;
const resourceOf = (template: Template, symbol: string): ArmResource => {
  const found = resourcesOf(template).find(([name]) => name === symbol);
  if (!found) throw new Error(`no resource ${symbol}`);
  return found[1];
};

const exampleParameters = (file: string): Record<string, Json> => {
  const example = JSON.parse(readFileSync(join(BICEP_SOURCE_DIR, file), 'utf8')) as { parameters: Record<string, { value: Json }> };
  return Object.fromEntries(Object.entries(example.parameters).map(([name, p]) => [name, p.value]));
};
const SAMPLE = (): Record<string, Json> => exampleParameters('main.sample.parameters.example.json');
const OWN_CLUSTER = (): Record<string, Json> => exampleParameters('main.parameters.example.json');

/** Every required parameter of a template, as the marker `<name>`, then the given values. */
const withMarkers = (template: Template, values: Record<string, Json>): Record<string, Json> => {
  const declared = template.parameters as Record<string, JsonObject>;
  const markers = Object.fromEntries(
    Object.keys(declared)
      .filter((name) => !('defaultValue' in declared[name]))
      .map((name) => [name, `<${name}>`]),
  );
  return { ...markers, ...values };
};

const describeBicep = describeWithBicep();

describeBicep('the private network (privateNetwork)', () => {
  let build: ReturnType<typeof buildIntoTemp>;
  let main: Template;
  let network: Template;

  beforeAll(() => {
    build = buildIntoTemp();
    if (!build.result.ok) throw new Error(`bicep build failed: ${JSON.stringify(build.result.diagnostics)}`);
    main = readTemplate(build.result.outputs['main.bicep']);
    network = nestedTemplate(moduleOf(main, 'privateNetworkEndpoints'));
  });
  afterAll(() => build?.cleanup());

  /** The storage module's dataServices output for a backend (what the endpoints module is given). */
  const dataServices = (durableBackend: string): Json => {
    const storage = nestedTemplate(moduleOf(main, 'storage'));
    const evaluator = new TemplateEvaluator(storage, withMarkers(storage, { durableBackend }));
    return evaluator.evaluate(((storage.outputs as JsonObject).dataServices as JsonObject).value) as Json;
  };

  /** main.json evaluated with these parameters; module outputs answered as ARM would at run time. */
  const deployment = (parameters: Record<string, Json>) => {
    const backend = String(parameters.durableBackend ?? 'DurableTaskScheduler');
    const known: Record<string, Record<string, Json>> = {
      keyVault: { id: IDS.keyVault },
      storage: { id: IDS.storage, dataServices: dataServices(backend) },
      functionApp: { id: IDS.functionApp },
    };
    // A module's outputs: the known ones, else a marker naming the output (the app module reads several).
    const outputs = (target: string): Json =>
      new Proxy({}, { get: (_, name) => ({ value: known[target]?.[String(name)] ?? `<${target}.${String(name)}>` }) }) as Json;
    const evaluator = new TemplateEvaluator(main, parameters, { ...CONTEXT, runtime: { reference: (target) => ({ outputs: outputs(target) }) } });
    /** The values main.bicep passes to a module: all of them, or only those named (the others may read
     *  what this evaluator does not model, e.g. other engineers' newer parameters). */
    const moduleParameters = (symbol: string, names?: string[]): Record<string, Json> => {
      const declared = props(moduleOf(main, symbol)).parameters as Record<string, Json>;
      return Object.fromEntries(
        Object.entries(declared)
          .filter(([name]) => !names || names.includes(name))
          .map(([name, p]) => [name, (evaluator.evaluate(p) as { value: Json }).value]),
      );
    };
    const deployed = (symbol: string): boolean => evaluator.evaluate(moduleOf(main, symbol).condition as Json) === true;
    return { evaluator, moduleParameters, deployed };
  };

  /** The endpoints module evaluated with what main.bicep gives it: endpoints, zone groups, zones and links. */
  const endpointsOf = (parameters: Record<string, Json>) => {
    const values = deployment(parameters).moduleParameters('privateNetworkEndpoints');
    const evaluator = new TemplateEvaluator(network, values, CONTEXT);
    const count = (symbol: string) => evaluator.evaluate(((resourceOf(network, symbol).copy as JsonObject).count) as Json) as number;
    const each = (symbol: string) => Array.from({ length: count(symbol) }, (_, i) => evaluator.evaluate(atIndex(resourceOf(network, symbol), i)) as JsonObject);
    const condition = (symbol: string) => evaluator.evaluate((resourceOf(network, symbol).condition ?? true) as Json);
    return { values, endpoints: each('privateEndpoints'), zoneGroups: each('zoneGroups'), zones: each('zones'), links: each('zoneLinks'), condition };
  };

  it('is on by default with the sample cluster (or when a private endpoint subnet is given), off for a deployment of your own cluster', () => {
    const declaration = (main.parameters as Record<string, JsonObject>).privateNetwork;
    expect(declaration).toMatchObject({ type: 'bool' });
    expect(String(declaration.defaultValue)).toContain("parameters('deploySampleCluster')");
    // Its default is evaluated after the parameters it reads (ARM evaluates them in order).
    const names = Object.keys(main.parameters as JsonObject);
    expect(names.indexOf('privateNetwork')).toBeGreaterThan(names.indexOf('deploySampleCluster'));
    expect(names.indexOf('privateNetwork')).toBeGreaterThan(names.indexOf('privateEndpointSubnetId'));

    expect(deployment(SAMPLE()).deployed('privateNetworkEndpoints')).toBe(true);
    expect(deployment(OWN_CLUSTER()).deployed('privateNetworkEndpoints')).toBe(false);
    expect(deployment({ ...OWN_CLUSTER(), privateEndpointSubnetId: OWN.endpointSubnet }).deployed('privateNetworkEndpoints')).toBe(true);
    // Either way it can be set explicitly.
    expect(deployment({ ...SAMPLE(), privateNetwork: false }).deployed('privateNetworkEndpoints')).toBe(false);
    expect(deployment({ ...OWN_CLUSTER(), privateNetwork: true, privateEndpointSubnetId: OWN.endpointSubnet }).deployed('privateNetworkEndpoints')).toBe(true);
  });

  it('stops at once, saying why, when it is on for your own cluster without a subnet for the endpoints', () => {
    const { evaluator, moduleParameters } = deployment({ ...OWN_CLUSTER(), privateNetwork: true });
    expect(() => evaluator.variable('privateNetworkEndpointSubnetId')).toThrow(/privateNetwork is on but privateEndpointSubnetId is empty/);
    expect(() => moduleParameters('privateNetworkEndpoints')).toThrow(/privateEndpointSubnetId is empty/);
    // The sample brings its own subnet; a given subnet is used as is; off, there is none.
    expect(deployment(SAMPLE()).evaluator.variable('privateNetworkEndpointSubnetId')).toBe(`${SAMPLE_VNET}/subnets/pg-private-endpoints`);
    expect(deployment({ ...OWN_CLUSTER(), privateEndpointSubnetId: OWN.endpointSubnet }).evaluator.variable('privateNetworkEndpointSubnetId')).toBe(OWN.endpointSubnet);
    expect(deployment(OWN_CLUSTER()).evaluator.variable('privateNetworkEndpointSubnetId')).toBe('');
    // ...and the output that carries it to the next deployment.
    expect((main.outputs as JsonObject).privateEndpointSubnetId).toMatchObject({ value: "[variables('privateNetworkEndpointSubnetId')]" });
  });

  it('gives Key Vault, the storage services the app uses and the app each a private endpoint in that subnet, with its group id and DNS zone', () => {
    const cases: Array<[string, string[]]> = [
      ['DurableTaskScheduler', ['vault', 'blob', 'sites']],
      ['AzureStorage', ['vault', 'blob', 'queue', 'table', 'sites']],
    ];
    for (const [durableBackend, groups] of cases) {
      const { endpoints, zoneGroups, zones } = endpointsOf({ ...SAMPLE(), durableBackend });
      const target = (group: string) => (group === 'vault' ? IDS.keyVault : group === 'sites' ? IDS.functionApp : IDS.storage);
      expect(endpoints.map((e) => e.name)).toEqual(groups.map((group) => `pgtry-pe-${group}`));
      endpoints.forEach((endpoint, i) => {
        const p = endpoint.properties as JsonObject;
        expect(p.subnet).toEqual({ id: `${SAMPLE_VNET}/subnets/pg-private-endpoints` });
        expect(p.privateLinkServiceConnections).toEqual([{ name: groups[i], properties: { privateLinkServiceId: target(groups[i]), groupIds: [groups[i]] } }]);
        // Its zone group registers it in the zone of its group.
        expect(zoneGroups[i].name).toBe(`pgtry-pe-${groups[i]}/default`);
        expect((zoneGroups[i].properties as JsonObject).privateDnsZoneConfigs).toEqual([
          { name: ZONES[groups[i]].replace(/\./g, '-'), properties: { privateDnsZoneId: `${RG}/providers/Microsoft.Network/privateDnsZones/${ZONES[groups[i]]}` } },
        ]);
      });
      expect(zones.map((z) => [z.name, z.location])).toEqual(groups.map((group) => [ZONES[group], 'global']));
    }
  });

  it('links every zone to the networks of the endpoint, Functions and database subnets, each network once', () => {
    // The sample: all three subnets in one network.
    const sample = endpointsOf(SAMPLE());
    expect(sample.values.virtualNetworkIds).toEqual([SAMPLE_VNET.toLowerCase()]);
    expect(sample.links.map((l) => [String(l.name).split('/')[0], (l.properties as JsonObject).virtualNetwork])).toEqual(
      Object.values(ZONES)
        .filter((zone) => !zone.includes('queue') && !zone.includes('table'))
        .map((zone) => [zone, { id: SAMPLE_VNET.toLowerCase() }]),
    );
    // Your own cluster: the endpoint subnet's network, the Functions subnet's, and the database
    // subnets' (one of them the endpoints' network spelt differently: linked once).
    const own = endpointsOf({ ...OWN_CLUSTER(), privateEndpointSubnetId: OWN.endpointSubnet, functionsSubnetId: OWN.functionsSubnet, databaseSubnetIds: OWN.databaseSubnets });
    const networks = [netId('rg-network', 'vnet-db'), netId('rg-network', 'vnet-apps'), netId('rg-dr', 'vnet-dr')].map((id) => id.toLowerCase());
    expect(own.values.virtualNetworkIds).toEqual(networks);
    expect(own.links).toHaveLength(3 * networks.length);
    expect(new Set(own.links.map((l) => String(l.name))).size).toBe(own.links.length);
    for (const zone of [ZONES.vault, ZONES.blob, ZONES.sites]) {
      expect(own.links.filter((l) => String(l.name).startsWith(`${zone}/`)).map((l) => ((l.properties as JsonObject).virtualNetwork as JsonObject).id)).toEqual(networks);
    }
    expect(own.links.every((l) => (l.properties as JsonObject).registrationEnabled === false)).toBe(true);
  });

  it('privateNetworkDnsZones=false leaves DNS to you: endpoints, but no zone, link or zone group', () => {
    const withZones = endpointsOf(SAMPLE());
    for (const symbol of ['zones', 'zoneLinks', 'zoneGroups']) expect(withZones.condition(symbol)).toBe(true);
    const without = endpointsOf({ ...SAMPLE(), privateNetworkDnsZones: false });
    for (const symbol of ['zones', 'zoneLinks', 'zoneGroups']) expect(without.condition(symbol)).toBe(false);
    expect(without.condition('privateEndpoints')).toBe(true);
    expect(without.endpoints).toHaveLength(3);
  });

  it('turns public network access off on Key Vault and storage when on, and leaves them as before when off', () => {
    const evaluateModule = (symbol: string, type: string, parameters: Record<string, Json>): JsonObject => {
      const values = deployment(parameters).moduleParameters(symbol, ['disablePublicNetworkAccess', 'durableBackend']);
      const template = nestedTemplate(moduleOf(main, symbol));
      const resource = props(ofType(template, type)[0].resource);
      const evaluator = new TemplateEvaluator(template, withMarkers(template, values), CONTEXT);
      return Object.fromEntries(['publicNetworkAccess', 'networkAcls', 'allowSharedKeyAccess'].map((name) => [name, evaluator.evaluate(resource[name] ?? null) as Json]));
    };
    const vaultOn = evaluateModule('keyVault', 'Microsoft.KeyVault/vaults', SAMPLE());
    expect(vaultOn.publicNetworkAccess).toBe('Disabled');
    expect(vaultOn.networkAcls).toEqual({ defaultAction: 'Deny', bypass: 'AzureServices' });
    const vaultOff = evaluateModule('keyVault', 'Microsoft.KeyVault/vaults', OWN_CLUSTER());
    expect(vaultOff.publicNetworkAccess).toBe('Enabled');
    expect(vaultOff.networkAcls).toBeNull(); // as before: no network rules at all

    const storageOn = evaluateModule('storage', 'Microsoft.Storage/storageAccounts', SAMPLE());
    expect(storageOn.publicNetworkAccess).toBe('Disabled');
    expect(storageOn.networkAcls).toEqual({ defaultAction: 'Deny', bypass: 'AzureServices' });
    const storageOff = evaluateModule('storage', 'Microsoft.Storage/storageAccounts', OWN_CLUSTER());
    expect(storageOff.publicNetworkAccess).toBe('Enabled');
    expect(storageOff.networkAcls).toEqual({ defaultAction: 'Allow', bypass: 'AzureServices' });
    // Shared keys stay off either way (identity only).
    expect([storageOn.allowSharedKeyAccess, storageOff.allowSharedKeyAccess]).toEqual([false, false]);
  });

  describe("the app's public endpoint", () => {
    const OPERATORS = ['203.0.113.0/24', '2001:db8::/48'];
    /** The app's network settings (and a few others), from what main.bicep passes to the app module. */
    const SITE_CONFIG = ['ipSecurityRestrictions', 'ipSecurityRestrictionsDefaultAction', 'scmIpSecurityRestrictions', 'scmIpSecurityRestrictionsDefaultAction', 'scmIpSecurityRestrictionsUseMain', 'minTlsVersion', 'ftpsState'];
    const siteOf = (parameters: Record<string, Json>) => {
      const values = deployment(parameters).moduleParameters('functionApp', ['restrictPublicAccess', 'allowedSubnetIds', 'allowedIpRanges']);
      const template = nestedTemplate(moduleOf(main, 'functionApp'));
      const site = props(ofType(template, 'Microsoft.Web/sites')[0].resource);
      const evaluator = new TemplateEvaluator(template, withMarkers(template, values), CONTEXT);
      const siteConfig = Object.fromEntries(SITE_CONFIG.map((name) => [name, evaluator.evaluate((site.siteConfig as JsonObject)[name] ?? null) as Json]));
      return { values, properties: { publicNetworkAccess: evaluator.evaluate(site.publicNetworkAccess ?? null) as Json }, siteConfig };
    };

    it('denies by default and admits Event Grid (AzureEventGrid service tag), the database subnets and the operator ranges', () => {
      const { siteConfig, properties, values } = siteOf({ ...SAMPLE(), operatorIpRanges: OPERATORS });
      expect(values).toMatchObject({ restrictPublicAccess: true, allowedIpRanges: OPERATORS, allowedSubnetIds: [`${SAMPLE_VNET}/subnets/pg-db`] });
      // Kept on: Event Grid cannot deliver to a private endpoint.
      expect(properties.publicNetworkAccess).toBe('Enabled');
      expect(siteConfig.ipSecurityRestrictionsDefaultAction).toBe('Deny');
      const rules = siteConfig.ipSecurityRestrictions as JsonObject[];
      expect(rules.every((rule) => rule.action === 'Allow')).toBe(true);
      expect(rules.find((rule) => rule.tag === 'ServiceTag')).toMatchObject({ ipAddress: 'AzureEventGrid', action: 'Allow' });
      expect(rules.filter((rule) => 'vnetSubnetResourceId' in rule).map((rule) => rule.vnetSubnetResourceId)).toEqual([`${SAMPLE_VNET}/subnets/pg-db`]);
      expect(rules.filter((rule) => rule.tag === 'Default').map((rule) => rule.ipAddress)).toEqual(OPERATORS);
      expect(rules).toHaveLength(1 + 1 + OPERATORS.length);
      // Distinct priorities and names (App Service orders by priority).
      expect(new Set(rules.map((rule) => rule.priority)).size).toBe(rules.length);
      expect(new Set(rules.map((rule) => rule.name)).size).toBe(rules.length);
    });

    it('takes the database subnets of your own cluster (databaseSubnetIds)', () => {
      const { siteConfig } = siteOf({ ...OWN_CLUSTER(), privateEndpointSubnetId: OWN.endpointSubnet, databaseSubnetIds: OWN.databaseSubnets });
      const rules = siteConfig.ipSecurityRestrictions as JsonObject[];
      expect(rules.filter((rule) => 'vnetSubnetResourceId' in rule).map((rule) => rule.vnetSubnetResourceId)).toEqual(OWN.databaseSubnets);
      expect(rules.filter((rule) => rule.tag === 'Default')).toEqual([]); // no operator range given: none admitted
    });

    it('restricts the scm (deployment) site to the operator ranges alone, default deny', () => {
      const { siteConfig } = siteOf({ ...SAMPLE(), operatorIpRanges: OPERATORS });
      expect(siteConfig.scmIpSecurityRestrictionsUseMain).toBe(false);
      expect(siteConfig.scmIpSecurityRestrictionsDefaultAction).toBe('Deny');
      expect((siteConfig.scmIpSecurityRestrictions as JsonObject[]).map((rule) => [rule.action, rule.ipAddress])).toEqual(OPERATORS.map((range) => ['Allow', range]));
      // Without operator ranges the scm site is reachable through the private endpoint only.
      expect(siteOf(SAMPLE()).siteConfig.scmIpSecurityRestrictions).toEqual([]);
    });

    it('is left as before (no restriction) when the private network is off', () => {
      const { siteConfig, properties } = siteOf({ ...OWN_CLUSTER(), operatorIpRanges: OPERATORS });
      for (const name of ['ipSecurityRestrictions', 'ipSecurityRestrictionsDefaultAction', 'scmIpSecurityRestrictions', 'scmIpSecurityRestrictionsDefaultAction', 'scmIpSecurityRestrictionsUseMain']) {
        expect([name, siteConfig[name]]).toEqual([name, null]);
      }
      expect(properties.publicNetworkAccess).toBeNull();
      // The rest of the site configuration is unaffected.
      expect(siteConfig).toMatchObject({ minTlsVersion: '1.2', ftpsState: 'Disabled' });
    });
  });

  it('the sample network has the endpoint subnet, and its database subnet the Microsoft.Web service endpoint a subnet rule needs', () => {
    const sampleNetwork = nestedTemplate(moduleOf(main, 'sampleNetwork'));
    const vnet = ofType(sampleNetwork, 'Microsoft.Network/virtualNetworks')[0].resource;
    const values = deployment(SAMPLE()).moduleParameters('sampleNetwork', ['layout', 'databaseSubnetPrefix', 'functionsSubnetPrefix', 'privateEndpointSubnetPrefix']);
    const evaluated = new TemplateEvaluator(sampleNetwork, withMarkers(sampleNetwork, values), CONTEXT).evaluate(props(vnet).subnets as Json) as JsonObject[];
    const byName: Record<string, JsonObject> = Object.fromEntries(evaluated.map((s) => [String(s.name), s.properties as JsonObject]));
    expect(Object.keys(byName)).toEqual(['pg-db', 'pg-functions', 'pg-private-endpoints']);
    expect(byName['pg-private-endpoints'].addressPrefix).toBe('10.50.3.0/24');
    expect((main.parameters as Record<string, JsonObject>).samplePrivateEndpointSubnetPrefix.defaultValue).toBe('10.50.3.0/24');
    expect(byName['pg-db'].serviceEndpoints).toEqual([{ service: 'Microsoft.Web' }]);
    // No overlap with the other sample subnets' default prefixes.
    expect(new Set(Object.values(byName).map((s) => s.addressPrefix)).size).toBe(3);
  });

  it('creates the endpoints after the app, and the sample VMs only once they exist (at boot they read Key Vault and call the app through them)', () => {
    const endpoints = moduleOf(main, 'privateNetworkEndpoints');
    expect(endpoints.condition).toBe("[parameters('privateNetwork')]");
    expect(endpoints.dependsOn).toEqual(expect.arrayContaining(['functionApp', 'keyVault', 'storage']));
    expect(moduleOf(main, 'sample').dependsOn).toContain('privateNetworkEndpoints');
    expect(props(endpoints).parameters).toMatchObject({ storageServices: { value: "[reference('storage').outputs.dataServices.value]" } });
    expect([dataServices('DurableTaskScheduler'), dataServices('AzureStorage')]).toEqual([['blob'], ['blob', 'queue', 'table']]);
  });
});
