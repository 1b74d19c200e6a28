import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, ConfigProblem } from '../domain/errors';
import { ClusterConfig, ConfigSchema, FailoverConfig } from './schema';

/** App settings that carry the configuration (one of them must be set). */
export const CONFIG_SETTING = 'PG_FAILOVER_CONFIG';
export const CONFIG_FILE_SETTING = 'PG_FAILOVER_CONFIG_FILE';

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), '');
}

function describe(issue: z.core.$ZodIssue): ConfigProblem {
  if (issue.code === 'unrecognized_keys') {
    return { path: pathText(issue.path), message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove or correct the spelling` };
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return { path: pathText(issue.path), message: `required: ${issue.message.replace(/^Invalid input: /, '')}` };
  }
  return { path: pathText(issue.path), message: issue.message.replace(/^Invalid input: /, '') };
}

/** Validates a parsed document; every problem is reported at once, by its path. */
export function parseConfig(document: unknown, source: string): FailoverConfig {
  const result = ConfigSchema.safeParse(document);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describe));
  return result.data;
}

export function parseConfigText(text: string, source: string): FailoverConfig {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(source, [{ path: '', message: `not valid JSON (${(error as Error).message}); the configuration is one JSON object {"clusters": [...]}` }]);
  }
  return parseConfig(document, source);
}

export function loadConfigFile(file: string): FailoverConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); check ${CONFIG_FILE_SETTING}` }]);
  }
  return parseConfigText(text, file);
}

/** Reads the configuration from the app settings: inline JSON first, else a file path. */
export function loadConfigFromEnvironment(env: NodeJS.ProcessEnv = process.env): FailoverConfig {
  const inline = env[CONFIG_SETTING];
  if (inline && inline.trim()) return parseConfigText(inline, `app setting ${CONFIG_SETTING}`);
  const file = env[CONFIG_FILE_SETTING];
  if (file && file.trim()) return loadConfigFile(file);
  throw new ConfigError('the app settings', [{ path: '', message: `set ${CONFIG_SETTING} to the configuration JSON or ${CONFIG_FILE_SETTING} to a file holding it` }]);
}

export function findCluster(config: FailoverConfig, name: string): ClusterConfig | undefined {
  return config.clusters.find((cluster) => cluster.name === name);
}
