/** Helpers to read compiled ARM JSON (both the classic `resources: []` and the symbolic-name
 *  `languageVersion: 2.0` form `resources: {}`), nested module templates included. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBicep, BuildResult, probeBicep } from '../../../scripts/bicep/build';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ArmResource extends JsonObject {
  type: string;
}

export interface Template extends JsonObject {
  resources: ArmResource[] | { [symbol: string]: ArmResource };
}

export interface Located {
  resource: ArmResource;
  /** Symbolic name (languageVersion 2.0) or array index. */
  symbol: string;
  /** The template that declares the resource (for its variables and parameters). */
  template: Template;
  /** Module symbols from the root template down to this one. */
  modulePath: string[];
}

export function resourcesOf(template: Template): Array<[string, ArmResource]> {
  const resources = template.resources ?? [];
  return Array.isArray(resources) ? resources.map((r, i) => [String(i), r]) : Object.entries(resources);
}

/** Every resource of the template and of every nested (module) template. */
export function allResources(template: Template, modulePath: string[] = []): Located[] {
  const found: Located[] = [];
  for (const [symbol, resource] of resourcesOf(template)) {
    found.push({ resource, symbol, template, modulePath });
    const nested = (resource.properties as JsonObject | undefined)?.template as Template | undefined;
    if (resource.type === 'Microsoft.Resources/deployments' && nested) found.push(...allResources(nested, [...modulePath, symbol]));
  }
  return found;
}

/** The resources of that type the deployment makes (`existing` references, which it only reads, left out). */
export function ofType(template: Template, type: string): Located[] {
  return allResources(template).filter((l) => l.resource.type.toLowerCase() === type.toLowerCase() && l.resource.existing !== true);
}

/** The module (a Microsoft.Resources/deployments resource) with that symbol in the root template. */
export function moduleOf(template: Template, symbol: string): ArmResource {
  const found = resourcesOf(template).find(([name]) => name === symbol);
  if (!found) throw new Error(`no module ${symbol}`);
  return found[1];
}

export function nestedTemplate(module: ArmResource): Template {
  return (module.properties as JsonObject).template as Template;
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** Role definition GUIDs a roleDefinitionId expression can evaluate to: literals in the
 *  expression plus every GUID in the template variables it reads, directly or through other
 *  variables (e.g. a map of roles looped over, built from maps chosen by a parameter). */
export function roleGuids(located: Located): string[] {
  const expression = String((located.resource.properties as JsonObject).roleDefinitionId ?? '');
  const guids = new Set<string>((expression.match(GUID) ?? []).map((g) => g.toLowerCase()));
  const variables = (located.template.variables ?? {}) as JsonObject;
  const seen = new Set<string>();
  const read = (text: string) => {
    for (const match of text.matchAll(/variables\('([^']+)'\)/g)) {
      if (seen.has(match[1])) continue;
      seen.add(match[1]);
      const value = JSON.stringify(variables[match[1]] ?? null);
      for (const g of value.match(GUID) ?? []) guids.add(g.toLowerCase());
      read(value);
    }
  };
  read(expression);
  return [...guids].sort();
}

/** The resource type a role assignment's `scope` expression points at, e.g. Microsoft.Compute/virtualMachines. */
export function scopeType(located: Located): string | undefined {
  const scope = located.resource.scope;
  if (typeof scope !== 'string') return undefined;
  return /resourceId\('([^']+)'/.exec(scope)?.[1] ?? /extensionResourceId\([^,]+, '([^']+)'/.exec(scope)?.[1];
}

export function readTemplate(file: string): Template {
  return JSON.parse(readFileSync(file, 'utf8')) as Template;
}

/** Chooses describe or describe.skip while the test file loads, saying why when it skips. */
export function describeWithBicep(): jest.Describe {
  const probe = probeBicep();
  if ('tool' in probe) return describe;
  if (process.env.BICEP_TESTS_REQUIRED === '1') throw new Error(`BICEP_TESTS_REQUIRED=1 but there is no Bicep CLI: ${probe.reason}`);
  console.warn(`Skipping Bicep template tests: no Bicep CLI could be found or restored (${probe.reason}). CI always provides one (npm run build:bicep restores it from NuGet with the .NET SDK).`);
  return describe.skip;
}

/** Builds bicep/ into a fresh temp dir once; the caller removes it with `cleanup`. */
export function buildIntoTemp(): { result: BuildResult; outDir: string; cleanup: () => void } {
  const outDir = mkdtempSync(join(tmpdir(), 'bicep-test-out-'));
  const result = buildBicep({ outDir });
  return { result, outDir, cleanup: () => rmSync(outDir, { recursive: true, force: true }) };
}
