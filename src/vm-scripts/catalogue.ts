import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { FailoverError, InvalidInputError } from '../domain/errors';
import { isLsn } from '../domain/lsn';
import type { ScriptResultData } from '../domain/script-result';
import type { SecretValue } from '../domain/secret-value';
import type { PlainParameters, SecretParameters, ShellScript } from '../ports/vm-commands';

/**
 * The shell scripts Run Command executes on the database VMs (the .sh files beside this module), and how
 * to call each one: its parameters from the cluster and node configuration, its secrets (only
 * as protected parameters), and a typed reader of its result line.
 *
 * Run Command takes ONE script text, so every script is sent as lib.sh followed by
 * the script itself. Usage, e.g. in an activity:
 *
 *     const call = startServer(cluster, node, { startAs: 'primary' });
 *     const outcome = await vmCommands.run(node, call);
 *     const { role } = call.parseResult(outcome.result);
 */

export const VM_SCRIPT_NAMES = ['inspect', 'stop-clean', 'start', 'promote', 'follow', 'rejoin'] as const;
export type VmScriptName = (typeof VM_SCRIPT_NAMES)[number];

/** One prepared Run Command: send `script` with `parameters` (and `secrets`, when present). */
export interface VmScriptCall<TResult> {
  script: ShellScript;
  parameters: PlainParameters;
  /** A suggested Run Command timeout (the script's own waits plus a margin). */
  timeoutSeconds: number;
  /** Action Run Command: how long the caller waits for it (VmCommandRequest.answerWithinSeconds). */
  answerWithinSeconds?: number;
  /** Reads the data of the script's ok:true result line; throws VmScriptResultError when it does not fit. */
  parseResult(data: ScriptResultData): TResult;
}

/** A call that needs secrets: send it with VmCommands.runWithSecrets (protected parameters). */
export interface VmScriptCallWithSecrets<TResult> extends VmScriptCall<TResult> {
  secrets: SecretParameters;
}

export interface VmScriptOptions {
  /** Bound on each of the script's own waits (server start, promotion, streaming). Default 60. */
  waitSeconds?: number;
}

/**
 * How long the app waits for a Run Command on a node it cannot reach: an action Run Command takes
 * 20 s or more on Azure (over a minute at times), the inspect and stop scripts wait 10 s at most;
 * past a minute and a half the VM's guest agent is most likely gone (a failed host ARM still calls
 * running), where Azure would keep the run for 90 minutes (docs/azure-platform.md §20). The caller
 * then fences by power-off or the lease, or refuses.
 */
export const UNREACHABLE_NODE_ANSWER_SECONDS = 90;

/** The parts of the configuration the scripts need. */
export type ClusterForScripts = Pick<ClusterConfig, 'name' | 'postgres'>;
export type NodeForScripts = Pick<NodeConfig, 'name' | 'host' | 'port' | 'overrides'>;

/** A script printed ok:true but its data is not what the script promises: a bug, or the wrong script. */
export class VmScriptResultError extends FailoverError {}

// ------------------------------------------------------------------------------------ loading

/** The scripts ship beside this module: the build copies them next to the compiled catalogue. */
export function vmScriptsDir(): string {
  return __dirname;
}

const textCache = new Map<VmScriptName, string>();

/** The final text Run Command receives: lib.sh, then the script (its shebang line dropped). */
export function vmScriptText(name: VmScriptName): string {
  const cached = textCache.get(name);
  if (cached !== undefined) return cached;
  const dir = vmScriptsDir();
  const read = (file: string) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new FailoverError(`VM script ${path} is missing from the package (the .sh files must ship beside the compiled catalogue)`);
    return readFileSync(path, 'utf8');
  };
  const lib = read('lib.sh');
  const body = read(`${name}.sh`).replace(/^#!.*\n/, '');
  const text = `${lib.endsWith('\n') ? lib : `${lib}\n`}\n# ======================================================================== ${name}.sh\n${body}`;
  textCache.set(name, text);
  return text;
}

/**
 * What an agent holds to run the node steps (its vm-scripts.sha256): the SHA-256 of each script
 * text the app sends, one "<sha256>  <script>" line each. The agent runs no other text.
 */
export function vmScriptDigests(): string {
  return VM_SCRIPT_NAMES.map((name) => `${createHash('sha256').update(vmScriptText(name)).digest('hex')}  ${name}\n`).join('');
}

/**
 * Which step scripts an agent runs, as its probes say (X-Pgfo-Steps, agent/node_agent/steps.py
 * steps_version): the SHA-256 of vmScriptDigests(). An agent saying another one refuses this app's
 * steps, and they go through Run Command.
 */
export function vmStepsVersion(): string {
  stepsVersion ??= createHash('sha256').update(vmScriptDigests()).digest('hex');
  return stepsVersion;
}
/** The scripts ship with the app and never change while it runs: computed once, not on every look. */
let stepsVersion: string | undefined;

export function vmScript(name: VmScriptName): ShellScript {
  return { name, text: vmScriptText(name) };
}

// ------------------------------------------------------------------------------------ parameters

const DEFAULT_WAIT_SECONDS = 60;

function waitSeconds(options: VmScriptOptions): number {
  const value = options.waitSeconds ?? DEFAULT_WAIT_SECONDS;
  if (!Number.isInteger(value) || value < 1 || value > 86_400) throw new InvalidInputError(`waitSeconds must be a whole number of seconds from 1 to 86400 (got ${value})`);
  return value;
}

/** Where this node's files are: the node's overrides, else the cluster's postgres settings. */
export function nodePaths(cluster: ClusterForScripts, node: NodeForScripts) {
  const pg = cluster.postgres;
  return {
    dataDirectory: node.overrides.dataDirectory ?? pg.dataDirectory,
    socketDirectory: node.overrides.socketDirectory ?? pg.socketDirectory,
    passFile: node.overrides.passFile ?? pg.passFile,
    logFile: node.overrides.logFile ?? pg.logFile,
  };
}

/**
 * TLS between nodes (replication, pg_rewind): encrypted whenever the app's own connections are.
 * The server is not verified: that would need the CA on every VM (docs/invariants.md, gaps).
 */
function nodeToNodeSslMode(appSslMode: ClusterForScripts['postgres']['sslMode']): 'require' | 'prefer' {
  return appSslMode === 'disable' ? 'prefer' : 'require';
}

/** The parameters every script takes: the node, its server and how to control it. */
function nodeParameters(cluster: ClusterForScripts, node: NodeForScripts, options: VmScriptOptions): Record<string, string> {
  const pg = cluster.postgres;
  const paths = nodePaths(cluster, node);
  const parameters: Record<string, string> = {
    PGFO_NODE_NAME: node.name,
    PGFO_BIN_DIR: pg.binDirectory,
    PGFO_DATA_DIR: paths.dataDirectory,
    PGFO_OS_USER: pg.osUser,
    PGFO_CONTROL: pg.control,
    PGFO_PORT: String(node.port),
    PGFO_SOCKET_DIR: paths.socketDirectory,
    PGFO_ADMIN_USER: pg.adminUser,
    PGFO_WAIT_SECONDS: String(waitSeconds(options)),
    PGFO_SSL_MODE: nodeToNodeSslMode(pg.sslMode),
  };
  if (pg.control === 'systemd') parameters.PGFO_SERVICE = pg.serviceName;
  return parameters;
}

/** Scripts that may start the server: pg_ctl needs a log file (else the server logs into Run Command's output). */
function startParameters(cluster: ClusterForScripts, node: NodeForScripts): Record<string, string> {
  if (cluster.postgres.control === 'systemd') return {};
  const { logFile } = nodePaths(cluster, node);
  if (!logFile) {
    throw new InvalidInputError(`cluster "${cluster.name}": postgres.logFile (or nodes[${node.name}].overrides.logFile) is required when postgres.control is "pg_ctl": the scripts start the server with pg_ctl -l <logFile>`, {
      cluster: cluster.name,
      node: node.name,
    });
  }
  return { PGFO_LOG_FILE: logFile };
}

function upstreamParameters(cluster: ClusterForScripts, node: NodeForScripts, primary: NodeForScripts): Record<string, string> {
  if (primary.name === node.name) {
    throw new InvalidInputError(`node "${node.name}" cannot follow itself`, { cluster: cluster.name, node: node.name });
  }
  return {
    PGFO_PRIMARY_HOST: primary.host,
    PGFO_PRIMARY_PORT: String(primary.port),
    PGFO_REPLICATION_USER: cluster.postgres.replicationUser,
    PGFO_PASSFILE: nodePaths(cluster, node).passFile,
  };
}

/** Refuses a secret that would also travel in the visible parameters. */
function assertSecretsStayProtected(parameters: PlainParameters, secrets: SecretParameters): void {
  for (const [secretName, secret] of Object.entries(secrets)) {
    for (const [name, value] of Object.entries(parameters)) {
      if (secret.appearsIn(value)) throw new InvalidInputError(`the value of secret ${secretName} appears in plain parameter ${name}; refusing to send it`);
    }
  }
}

function call<T>(name: VmScriptName, parameters: PlainParameters, timeoutSeconds: number, schema: z.ZodType<T>): VmScriptCall<T> {
  return {
    script: vmScript(name),
    parameters,
    timeoutSeconds,
    parseResult: (data) => parseVmScriptResult(name, schema, data),
  };
}

function callWithSecrets<T>(name: VmScriptName, parameters: PlainParameters, secrets: SecretParameters, timeoutSeconds: number, schema: z.ZodType<T>): VmScriptCallWithSecrets<T> {
  assertSecretsStayProtected(parameters, secrets);
  return { ...call(name, parameters, timeoutSeconds, schema), secrets };
}

/** inspect.sh: running or not, pg_control's view (state, checkpoint, timeline), standby.signal. Changes nothing. */
export function inspectVm(cluster: ClusterForScripts, node: NodeForScripts, options: VmScriptOptions = {}): VmScriptCall<InspectResult> {
  return call('inspect', nodeParameters(cluster, node, options), 120, InspectResultSchema);
}

/**
 * Who a node stopped by stopCleanly streams from if anything starts it again (S8: it restarts as a
 * standby, never as a writable primary): the switchover candidate. No secret: the stop is inside
 * the write outage and stays on the fast action Run Command path; the conninfo names the node's
 * replication passfile, which rejoin and follow fill. `null` when no candidate is known yet (a fence
 * in a failover): it then restarts as a standby with the primary_conninfo it already has,
 * read-only, until rejoin.
 */
export type StopUpstream = { primary: NodeForScripts } | null;

/**
 * stop-clean.sh: fast shutdown of the primary; reports the shutdown checkpoint, and leaves the
 * node configured to start as a standby of `upstream.primary` (standby.signal, primary_conninfo).
 */
export function stopCleanly(cluster: ClusterForScripts, node: NodeForScripts, upstream: StopUpstream, options: VmScriptOptions = {}): VmScriptCall<StopCleanResult> {
  const timeoutSeconds = waitSeconds(options) + 120;
  const parameters = { ...nodeParameters(cluster, node, options), ...(upstream ? upstreamParameters(cluster, node, upstream.primary) : {}) };
  return call('stop-clean', parameters, timeoutSeconds, StopCleanResultSchema);
}

export interface StartOptions extends VmScriptOptions {
  /**
   * 'primary': the undo of stopCleanly in a rollback - remove the standby.signal it wrote (only
   * after a primary's clean shutdown, "shut down") and insist the server comes back as the
   * primary. Left out: start as the data directory is configured (after stopCleanly: a standby).
   */
  startAs?: 'primary';
}

/** start.sh: start the server and wait until it accepts connections (with startAs 'primary': the undo of stopCleanly). */
export function startServer(cluster: ClusterForScripts, node: NodeForScripts, options: StartOptions = {}): VmScriptCall<StartResult> {
  const parameters: Record<string, string> = { ...nodeParameters(cluster, node, options), ...startParameters(cluster, node) };
  if (options.startAs) parameters.PGFO_START_AS = options.startAs;
  return call('start', parameters, 2 * waitSeconds(options) + 120, StartResultSchema);
}

/** promote.sh: pg_ctl promote -w and check it left recovery; reports the new timeline. */
export function promote(cluster: ClusterForScripts, node: NodeForScripts, options: VmScriptOptions = {}): VmScriptCall<PromoteResult> {
  return call('promote', nodeParameters(cluster, node, options), 3 * waitSeconds(options) + 120, PromoteResultSchema);
}

export interface FollowSecrets {
  replicationPassword: SecretValue;
}

/** follow.sh: make the running standby `node` stream from `primary`. */
export function followPrimary(cluster: ClusterForScripts, node: NodeForScripts, primary: NodeForScripts, secrets: FollowSecrets, options: VmScriptOptions = {}): VmScriptCallWithSecrets<FollowResult> {
  const parameters = { ...nodeParameters(cluster, node, options), ...upstreamParameters(cluster, node, primary) };
  return callWithSecrets('follow', parameters, { PGFO_REPLICATION_PASSWORD: secrets.replicationPassword }, 3 * waitSeconds(options) + 120, FollowResultSchema);
}

export interface RejoinSecrets {
  replicationPassword: SecretValue;
  /** The admin (superuser) role's password: pg_rewind reads the new primary's files with it. */
  adminPassword: SecretValue;
}

/** rejoin.sh: the stopped former primary `node` becomes a standby of `primary` (follow, else pg_rewind, else pg_basebackup). */
export function rejoinAsStandby(cluster: ClusterForScripts, node: NodeForScripts, primary: NodeForScripts, secrets: RejoinSecrets, options: VmScriptOptions & { timeoutSeconds?: number } = {}): VmScriptCallWithSecrets<RejoinResult> {
  const parameters = { ...nodeParameters(cluster, node, options), ...startParameters(cluster, node), ...upstreamParameters(cluster, node, primary) };
  const secretParameters = { PGFO_REPLICATION_PASSWORD: secrets.replicationPassword, PGFO_ADMIN_PASSWORD: secrets.adminPassword };
  // pg_basebackup copies the whole database: its time depends on the size, so the default is generous.
  return callWithSecrets('rejoin', parameters, secretParameters, options.timeoutSeconds ?? 3600, RejoinResultSchema);
}

// ------------------------------------------------------------------------------------ results

const lsn = z.string().refine(isLsn, 'expected a WAL position like 0/3000060');
const timeline = z.int().positive();
const base = { ok: z.literal(true), script: z.string(), node: z.string() };

/** pg_control's "Database cluster state" values (PostgreSQL 10+, printed in the C locale). */
export const CLUSTER_STATES = ['starting up', 'shut down', 'shut down in recovery', 'shutting down', 'in crash recovery', 'in archive recovery', 'in production'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

export const InspectResultSchema = z.object({
  ...base,
  running: z.boolean(),
  /** systemd control only: `systemctl is-active`; null with pg_ctl control. */
  serviceActive: z.boolean().nullable(),
  clusterState: z.enum(CLUSTER_STATES),
  checkpointLsn: lsn,
  redoLsn: lsn,
  redoWalFile: z.string(),
  timeline,
  minRecoveryLsn: lsn,
  minRecoveryTimeline: z.int().nonnegative(),
  standbySignal: z.boolean(),
  recoverySignal: z.boolean(),
  systemIdentifier: z.string().regex(/^\d+$/),
  walLogHints: z.boolean(),
  dataChecksums: z.boolean(),
  pgVersion: z.string(),
});
export type InspectResult = z.infer<typeof InspectResultSchema>;

export const StopCleanResultSchema = z.object({
  ...base,
  alreadyStopped: z.boolean(),
  clusterState: z.literal('shut down'),
  /** "Latest checkpoint location": the shutdown checkpoint the candidate must have received. */
  checkpointLsn: lsn,
  redoLsn: lsn,
  redoWalFile: z.string(),
  timeline,
  /** S8: whatever starts it again starts a standby (standby.signal), never a writable primary. */
  restartsAs: z.literal('standby'),
  /** The upstream its primary_conninfo names now; null when none was given (its earlier one is kept). */
  primaryHost: z.string().nullable(),
  primaryPort: z.int().nullable(),
});
export type StopCleanResult = z.infer<typeof StopCleanResultSchema>;

export const StartResultSchema = z.object({
  ...base,
  alreadyRunning: z.boolean(),
  role: z.enum(['primary', 'standby']),
  /** startAs 'primary' removed the standby.signal stopCleanly had left. */
  standbySignalRemoved: z.boolean(),
});
export type StartResult = z.infer<typeof StartResultSchema>;

export const PromoteResultSchema = z.object({
  ...base,
  alreadyPrimary: z.boolean(),
  /** The timeline of the WAL the new primary writes. */
  timeline,
  currentLsn: lsn,
});
export type PromoteResult = z.infer<typeof PromoteResultSchema>;

const streaming = {
  primaryHost: z.string(),
  primaryPort: z.int(),
  senderHost: z.string(),
  senderPort: z.int(),
  receivedTimeline: timeline,
  flushedLsn: lsn.nullable(),
};

export const FollowResultSchema = z.object({
  ...base,
  /** primary_conninfo was different and has been changed. */
  changed: z.boolean(),
  ...streaming,
});
export type FollowResult = z.infer<typeof FollowResultSchema>;

export const REJOIN_METHODS = ['follow', 'pg_rewind', 'pg_basebackup'] as const;
export type RejoinMethod = (typeof REJOIN_METHODS)[number];

export const RejoinResultSchema = z.object({
  ...base,
  method: z.enum(REJOIN_METHODS),
  /** It was already running as a standby (a re-run): only re-pointed if needed. */
  alreadyRunning: z.boolean(),
  /** It had not been shut down cleanly (a crash): crash recovery ran in single-user mode first. */
  crashRecovery: z.boolean(),
  /** pg_rewind --dry-run's verdict, e.g. "no rewind required" or "servers diverged at WAL location 0/5000150 on timeline 1". */
  rewindCheck: z.string().nullable(),
  /** Why a cheaper method was abandoned, when one was. */
  fallbackReason: z.string().nullable(),
  /** The data directory's own config files, saved before and put back after pg_rewind / pg_basebackup. */
  keptConfigFiles: z.array(z.string()),
  ...streaming,
});
export type RejoinResult = z.infer<typeof RejoinResultSchema>;

/** What every script prints when it fails (Run Command reports no exit code). */
export const FailureResultSchema = z.looseObject({
  ok: z.literal(false),
  script: z.string(),
  node: z.string(),
  /** The runbook step that failed, e.g. "validate", "stop", "pg_rewind". */
  step: z.string(),
  error: z.string(),
});
export type FailureResult = z.infer<typeof FailureResultSchema>;

export function parseVmScriptResult<T>(name: VmScriptName, schema: z.ZodType<T>, data: ScriptResultData): T {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(result)'}: ${issue.message}`).join('; ');
  throw new VmScriptResultError(`VM script ${name} reported a result that does not match what it promises: ${problems}`, { step: name });
}

/** The failure line's fields, when `data` is one (ok:false from any script). */
export function parseFailureResult(data: ScriptResultData): FailureResult | undefined {
  const parsed = FailureResultSchema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}
