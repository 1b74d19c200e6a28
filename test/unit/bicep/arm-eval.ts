/**
 * A small evaluator for ARM template expressions — only the functions main.bicep compiles to —
 * so tests can compute what a deployment WOULD do with given parameters: which VM, NIC, load
 * balancer and subnet ids get roles, and the exact PG_FAILOVER_CONFIG the app would receive.
 * Runtime-only values: `reference(...)` evaluates to a marker object unless the context's
 * `runtime.reference` answers it; `listKeys(...)` needs `runtime.listKeys`. `fail(message)`
 * throws, as ARM stops the deployment.
 */
import { createHash } from 'node:crypto';
import type { Json, JsonObject, Template } from './arm';

type Value = Json | Lambda | undefined;
interface Lambda {
  kind: 'lambda';
  names: string[];
  body: Node;
}
type Node = { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'call'; name: string; args: Node[] } | { t: 'prop'; of: Node; name: string } | { t: 'index'; of: Node; index: Node };

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated string in ${text}`);
        if (text[i] === "'" && text[i + 1] === "'") {
          s += "'";
          i += 2;
        } else if (text[i] === "'") {
          i++;
          break;
        } else s += text[i++];
      }
      tokens.push(`'${s}`);
    } else if ('(),[].'.includes(c)) tokens.push(text[i++]);
    else {
      const match = /^-?[A-Za-z0-9_$]+(\.[A-Za-z_][A-Za-z0-9_]*(?=\())?/.exec(text.slice(i));
      if (!match) throw new Error(`cannot read ${text.slice(i)}`);
      tokens.push(match[0]);
      i += match[0].length;
    }
  }
  return tokens;
}

export function parseExpression(text: string): Node {
  const tokens = tokenize(text);
  let pos = 0;
  const expect = (token: string) => {
    if (tokens[pos] !== token) throw new Error(`expected ${token} at ${tokens.slice(pos).join(' ')} in ${text}`);
    pos++;
  };
  const primary = (): Node => {
    const token = tokens[pos++];
    if (token.startsWith("'")) return { t: 'str', v: token.slice(1) };
    if (/^-?\d+$/.test(token)) return { t: 'num', v: Number(token) };
    expect('(');
    const args: Node[] = [];
    while (tokens[pos] !== ')') {
      args.push(expression());
      if (tokens[pos] === ',') pos++;
    }
    expect(')');
    return { t: 'call', name: token, args };
  };
  const expression = (): Node => {
    let node = primary();
    for (;;) {
      if (tokens[pos] === '.') {
        pos++;
        node = { t: 'prop', of: node, name: tokens[pos++] };
      } else if (tokens[pos] === '[') {
        pos++;
        const index = expression();
        expect(']');
        node = { t: 'index', of: node, index };
      } else return node;
    }
  };
  const node = expression();
  if (pos !== tokens.length) throw new Error(`unexpected ${tokens.slice(pos).join(' ')} in ${text}`);
  return node;
}

const isExpression = (value: string) => value.startsWith('[') && !value.startsWith('[[') && value.endsWith(']');

function cidrHost(prefix: string, index: number): string {
  const [address] = prefix.split('/');
  const n = address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0) + index + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function uniqueString(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('|')).digest();
  return [...digest.subarray(0, 13)].map((b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('');
}

/** The tenant subscription() answers when the context names none. */
export const TEST_TENANT_ID = '33333333-3333-3333-3333-333333333333';

export interface EvalContext {
  subscriptionId: string;
  /** subscription().tenantId; a fixed test tenant when not given. */
  tenantId?: string;
  resourceGroup: string;
  location: string;
  /** What the deployment would see at run time (module outputs, keys). */
  runtime?: {
    /** reference(<symbol or id>): e.g. a module's { outputs: { name: { value } } }. */
    reference?: (target: string) => Json | undefined;
    listKeys?: (resourceId: string, apiVersion: string) => Json;
  };
}

export class TemplateEvaluator {
  private readonly variableCache = new Map<string, Value>();
  private readonly parameterValues: Record<string, Json>;

  constructor(
    private readonly template: Template,
    parameters: Record<string, Json>,
    private readonly context: EvalContext = { subscriptionId: '11111111-1111-1111-1111-111111111111', resourceGroup: 'rg-pg-failover', location: 'westeurope' },
  ) {
    const declared = (template.parameters ?? {}) as Record<string, JsonObject>;
    const unknown = Object.keys(parameters).filter((name) => !(name in declared));
    if (unknown.length) throw new Error(`unknown parameters: ${unknown.join(', ')}`);
    this.parameterValues = {};
    for (const [name, declaration] of Object.entries(declared)) {
      if (name in parameters) this.parameterValues[name] = parameters[name];
      else if ('defaultValue' in declaration) this.parameterValues[name] = this.evaluate(declaration.defaultValue, [this.parameterValues]) as Json;
      else throw new Error(`parameter ${name} has no value and no default`);
    }
  }

  variable(name: string): Json {
    if (!this.variableCache.has(name)) {
      const variables = (this.template.variables ?? {}) as JsonObject;
      if (!(name in variables)) throw new Error(`no variable ${name}`);
      this.variableCache.set(name, this.evaluate(variables[name], [this.parameterValues]));
    }
    return this.variableCache.get(name) as Json;
  }

  /** Evaluates a template value (expressions inside strings, recursively through objects/arrays). */
  evaluate(value: Json, parameterScopes: Array<Record<string, Json>> = [this.parameterValues]): Value {
    if (typeof value === 'string') {
      if (isExpression(value)) return this.run(parseExpression(value.slice(1, -1)), parameterScopes, []);
      return value.startsWith('[[') ? value.slice(1) : value;
    }
    if (Array.isArray(value)) return value.map((v) => this.evaluate(v, parameterScopes) as Json);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.evaluate(v, parameterScopes) as Json]));
    return value;
  }

  private run(node: Node, params: Array<Record<string, Json>>, lambdas: Array<Record<string, Value>>): Value {
    const ev = (n: Node) => this.run(n, params, lambdas);
    switch (node.t) {
      case 'str':
      case 'num':
        return node.v;
      case 'prop': {
        const of = ev(node.of) as JsonObject | undefined;
        if (of === undefined || of === null || typeof of !== 'object') throw new Error(`.${node.name} of ${JSON.stringify(of)}`);
        return of[node.name];
      }
      case 'index': {
        const of = ev(node.of) as Json[] | JsonObject;
        const index = ev(node.index) as string | number;
        return (of as Record<string | number, Json>)[index];
      }
      case 'call':
        break;
    }
    const { name, args } = node;
    if (name === 'if') return ev(args[0]) ? ev(args[1]) : ev(args[2]);
    if (name === 'lambda') {
      const names = args.slice(0, -1).map((a) => (a.t === 'str' ? a.v : ''));
      return { kind: 'lambda', names, body: args[args.length - 1] };
    }
    if (name.startsWith('__bicep.')) {
      const fn = this.userFunction(name.slice('__bicep.'.length));
      const values = args.map(ev) as Json[];
      const scope = Object.fromEntries(fn.parameters.map((p, i) => [p.name, values[i]]));
      return this.evaluate(fn.output.value, [scope]);
    }
    const a = args.map(ev);
    const call = (fn: Value, ...values: Value[]) => {
      const l = fn as Lambda;
      return this.run(l.body, params, [...lambdas, Object.fromEntries(l.names.map((n, i) => [n, values[i]]))]);
    };
    switch (name) {
      case 'parameters':
        return params[params.length - 1][a[0] as string];
      case 'variables':
        return this.variable(a[0] as string);
      case 'lambdaVariables': {
        for (let i = lambdas.length - 1; i >= 0; i--) if ((a[0] as string) in lambdas[i]) return lambdas[i][a[0] as string];
        throw new Error(`no lambda variable ${a[0]}`);
      }
      case 'map':
        return (a[0] as Json[]).map((item, i) => call(a[1], item, i) as Json);
      case 'filter':
        return (a[0] as Json[]).filter((item, i) => call(a[1], item, i));
      case 'flatten':
        return (a[0] as Json[][]).flat();
      case 'concat':
        return Array.isArray(a[0]) ? (a as Json[][]).flat() : a.join('');
      case 'union': {
        if (Array.isArray(a[0])) {
          const seen = new Set<string>();
          return (a as Json[][]).flat().filter((item) => !seen.has(JSON.stringify(item)) && seen.add(JSON.stringify(item)));
        }
        return Object.assign({}, ...(a as JsonObject[]));
      }
      case 'createArray':
        return a as Json[];
      case 'createObject': {
        const object: JsonObject = {};
        for (let i = 0; i < a.length; i += 2) object[a[i] as string] = a[i + 1] as Json;
        return object;
      }
      case 'and':
        return a.every(Boolean);
      case 'or':
        return a.some(Boolean);
      case 'not':
        return !a[0];
      case 'equals':
        return JSON.stringify(a[0]) === JSON.stringify(a[1]);
      case 'contains':
        return typeof a[0] === 'string' ? a[0].includes(String(a[1])) : Array.isArray(a[0]) ? a[0].some((item) => JSON.stringify(item) === JSON.stringify(a[1])) : String(a[1]) in (a[0] as JsonObject);
      case 'empty':
        return a[0] === null || a[0] === undefined || a[0] === '' || (Array.isArray(a[0]) && a[0].length === 0) || (typeof a[0] === 'object' && Object.keys(a[0] as object).length === 0);
      case 'coalesce':
        return a.find((v) => v !== null && v !== undefined) ?? null;
      case 'tryGet': {
        let value: Value = a[0];
        for (const key of a.slice(1)) value = value && typeof value === 'object' ? (value as Record<string, Json>)[key as string] : undefined;
        return value ?? null;
      }
      case 'format':
        return (a[0] as string).replace(/\{(\d+)\}/g, (_, i: string) => String(a[Number(i) + 1]));
      case 'take':
        return (a[0] as string | Json[]).slice(0, a[1] as number);
      case 'toLower':
        return (a[0] as string).toLowerCase();
      case 'replace':
        return (a[0] as string).split(a[1] as string).join(a[2] as string);
      case 'split':
        return (a[0] as string).split(a[1] as string);
      case 'join':
        return (a[0] as Json[]).join(a[1] as string);
      case 'last':
        return (a[0] as Json[])[(a[0] as Json[]).length - 1];
      case 'length':
        return (a[0] as Json[]).length;
      case 'string':
        return typeof a[0] === 'string' ? a[0] : JSON.stringify(a[0]);
      case 'base64':
        return Buffer.from(a[0] as string, 'utf8').toString('base64');
      case 'base64ToString':
        return Buffer.from(a[0] as string, 'base64').toString('utf8');
      case 'items':
        return Object.keys(a[0] as JsonObject)
          .sort()
          .map((key) => ({ key, value: (a[0] as JsonObject)[key] }));
      case 'reduce':
        return (a[0] as Json[]).reduce<Value>((accumulated, item, i) => call(a[2], accumulated, item, i), a[1]);
      case 'add':
        return (a[0] as number) + (a[1] as number);
      case 'greater':
        return (a[0] as number) > (a[1] as number);
      case 'range':
        return Array.from({ length: a[1] as number }, (_, i) => (a[0] as number) + i);
      case 'cidrHost':
        return cidrHost(a[0] as string, a[1] as number);
      case 'uniqueString':
        return uniqueString(...(a as string[]));
      case 'true':
        return true;
      case 'false':
        return false;
      case 'null':
        return null;
      case 'fail':
        throw new Error(`fail(): ${String(a[0])}`);
      case 'environment':
        return { name: 'AzureCloud', suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' } };
      case 'resourceGroup':
        return {
          id: `/subscriptions/${this.context.subscriptionId}/resourceGroups/${this.context.resourceGroup}`,
          name: this.context.resourceGroup,
          location: this.context.location,
        };
      case 'subscription':
        return { id: `/subscriptions/${this.context.subscriptionId}`, subscriptionId: this.context.subscriptionId, tenantId: this.context.tenantId ?? TEST_TENANT_ID };
      case 'resourceId': {
        const [type, ...names] = a as string[];
        const [namespace, ...types] = type.split('/');
        const path = types.map((t, i) => `${t}/${names[i]}`).join('/');
        return `/subscriptions/${this.context.subscriptionId}/resourceGroups/${this.context.resourceGroup}/providers/${namespace}/${path}`;
      }
      case 'reference': {
        const known = this.context.runtime?.reference?.(String(a[0]));
        return known === undefined ? ({ '<runtime>': `reference(${String(a[0])})` } as JsonObject) : known;
      }
      case 'listKeys': {
        if (!this.context.runtime?.listKeys) throw new Error(`listKeys(${String(a[0])}) needs context.runtime.listKeys`);
        return this.context.runtime.listKeys(a[0] as string, a[1] as string);
      }
      default:
        throw new Error(`ARM function ${name} is not supported by the test evaluator`);
    }
  }

  private userFunction(name: string): { parameters: Array<{ name: string }>; output: { value: Json } } {
    for (const namespace of (this.template.functions ?? []) as Array<{ members: Record<string, { parameters: Array<{ name: string }>; output: { value: Json } }> }>) {
      if (namespace.members[name]) return namespace.members[name];
    }
    throw new Error(`no user function ${name}`);
  }
}
