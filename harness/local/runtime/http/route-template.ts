/**
 * ASP.NET-style route templates as the Functions host matches them for HTTP triggers:
 * `clusters/{cluster}/switchover`, optional `{id?}`, defaults `{id=1}`, constraints `{id:int}`,
 * `{name:alpha}`, `{x:regex(^a.+$)}`..., and a trailing catch-all `{*rest}`. Literal text matches
 * case-insensitively; a trailing slash is ignored; parameter values are URL-decoded.
 */
export interface RouteTemplate {
  readonly template: string;
  /** Literal segments first: the host prefers the most specific route. */
  readonly specificity: number;
  match(path: string): Record<string, string> | undefined;
}

interface Parameter {
  name: string;
  constraints: string[];
  defaultValue?: string;
}

export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const parameters: Parameter[] = [];
  let pattern = '^';
  let literals = 0;
  for (const segment of trimmed === '' ? [] : trimmed.split('/')) {
    const whole = /^\{(\*?)([^{}]+)\}$/.exec(segment);
    if (whole) {
      const parameter = parseParameter(whole[2] ?? '');
      const group = `p${parameters.length}`;
      parameters.push(parameter);
      if (whole[1] === '*') pattern += `(?:/(?<${group}>.*))?`;
      else if (parameter.optional || parameter.defaultValue !== undefined) pattern += `(?:/(?<${group}>[^/]+))?`;
      else pattern += `/(?<${group}>[^/]+)`;
      continue;
    }
    literals += 1;
    pattern += '/';
    // Literal text, possibly with embedded parameters (e.g. "{name}.{ext}").
    for (const part of segment.split(/(\{[^{}]+\})/).filter((p) => p !== '')) {
      const embedded = /^\{([^{}]+)\}$/.exec(part);
      if (!embedded) {
        pattern += escapeRegExp(part);
        continue;
      }
      const group = `p${parameters.length}`;
      parameters.push(parseParameter(embedded[1] ?? ''));
      pattern += `(?<${group}>[^/]+?)`;
    }
  }
  const regex = new RegExp(`${pattern}/?$`, 'i');
  return {
    template,
    specificity: literals,
    match(path: string) {
      const normalized = `/${path.replace(/^\/+/, '')}`;
      const found = regex.exec(normalized);
      if (!found) return undefined;
      const values: Record<string, string> = {};
      for (const [index, parameter] of parameters.entries()) {
        const raw = found.groups?.[`p${index}`];
        const value = raw === undefined ? parameter.defaultValue : safeDecode(raw);
        if (value === undefined) continue;
        if (!parameter.constraints.every((c) => satisfies(c, value))) return undefined;
        values[parameter.name] = value;
      }
      return values;
    },
  };
}

function parseParameter(text: string): Parameter & { optional: boolean } {
  let body = text;
  let defaultValue: string | undefined;
  const eq = body.indexOf('=');
  if (eq >= 0) {
    defaultValue = body.slice(eq + 1);
    body = body.slice(0, eq);
  }
  const optional = body.endsWith('?');
  if (optional) body = body.slice(0, -1);
  const [name = '', ...constraints] = splitConstraints(body);
  return { name, constraints, defaultValue, optional };
}

/** "id:regex(^a:b$):int" -> ["id", "regex(^a:b$)", "int"] (colons inside parentheses kept). */
function splitConstraints(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of body) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ':' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function satisfies(constraint: string, value: string): boolean {
  const call = /^(\w+)(?:\((.*)\))?$/s.exec(constraint);
  const name = call?.[1]?.toLowerCase() ?? '';
  const arg = call?.[2] ?? '';
  const numbers = arg.split(',').map(Number);
  switch (name) {
    case 'int':
    case 'long':
      return /^-?\d+$/.test(value);
    case 'bool':
      return /^(true|false)$/i.test(value);
    case 'alpha':
      return /^[a-z]+$/i.test(value);
    case 'guid':
      return /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(value);
    case 'double':
    case 'float':
    case 'decimal':
      return value.trim() !== '' && !Number.isNaN(Number(value));
    case 'datetime':
      return !Number.isNaN(Date.parse(value));
    case 'min':
      return Number(value) >= (numbers[0] ?? 0);
    case 'max':
      return Number(value) <= (numbers[0] ?? 0);
    case 'range':
      return Number(value) >= (numbers[0] ?? 0) && Number(value) <= (numbers[1] ?? 0);
    case 'minlength':
      return value.length >= (numbers[0] ?? 0);
    case 'maxlength':
      return value.length <= (numbers[0] ?? 0);
    case 'length':
      return numbers.length === 2 ? value.length >= (numbers[0] ?? 0) && value.length <= (numbers[1] ?? 0) : value.length === numbers[0];
    case 'regex':
      return new RegExp(arg, 'i').test(value);
    default:
      return true;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
