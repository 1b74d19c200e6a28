import { createHash, createHmac, randomUUID, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { ScriptStreams } from '../script-outcome';

/**
 * How the app knows it talks to the node's own agent: a certificate for the node's address from the
 * cluster's CA (`ca`, PEM), or exactly the self-signed certificate pinned for that node (`pinned`,
 * PEM, from Key Vault: nodeAgent.certificateSecretPrefix).
 */
export type AgentTrust = { ca: string } | { pinned: string };

/** Where one node's agent serves its steps, and how to trust it and sign for it. */
export interface NodeStepsTarget {
  node: string;
  host: string;
  port: number;
  /** The node's step key (raw bytes, from Key Vault). */
  key: Buffer;
  trust: AgentTrust;
}

export interface NodeStepRequest {
  script: { name: string; text: string };
  parameters: Readonly<Record<string, string>>;
  secrets: Readonly<Record<string, string>>;
  timeoutSeconds: number;
}

/**
 * The agent did not run the step and never will for this request: it could not be reached, or it
 * refused before running anything (unknown key, another script version, a server it may not
 * start). The caller runs the step through Run Command instead.
 */
export class NodeAgentUnavailable extends Error {}

/**
 * No TLS connection within the connect timeout and no refusal: nothing answered (a VM that is off
 * or gone, a blocked path), or the agent accepted the TCP connection and hung.
 */
export class NodeAgentSilent extends NodeAgentUnavailable {}

/** The agent knows no step of that id: never started there, or forgotten (the agent restarted). */
export class NodeStepUnknown extends Error {}

const CONNECT_TIMEOUT_MS = 2000;
/** A poll or an async start answers at once; this bounds a stalled agent. */
const QUICK_ANSWER_MS = 10_000;

/**
 * POST /steps on a node's agent (agent/node_agent/steps.py): signed with the node's key, the
 * script with its SHA-256 (the agent runs only a text whose digest it holds), one id per call. Resolves with
 * the script's streams once it ran; throws NodeAgentUnavailable when it did not run; any other
 * error (the connection lost after the request went out) leaves unknown whether it ran.
 */
export async function runNodeStep(target: NodeStepsTarget, step: NodeStepRequest): Promise<ScriptStreams> {
  const answer = await post(target, stepBody(randomUUID(), step, false), (step.timeoutSeconds + 30) * 1000, step.script.name);
  return streamsOf(target, answer);
}

/**
 * Starts a step that runs on after the answer (a rejoin), idempotent by `id` (the run's name):
 * a start repeated with the same id finds the run already there.
 */
export async function startNodeStep(target: NodeStepsTarget, id: string, step: NodeStepRequest): Promise<void> {
  const answer = await post(target, stepBody(id, step, true), QUICK_ANSWER_MS, step.script.name);
  if (answer.status !== 202 && answer.status !== 200) throw new NodeAgentUnavailable(`the agent of ${target.node} did not start ${step.script.name}: HTTP ${answer.status}`);
}

/** How a started step is doing: undefined while it runs, its streams once it ended. */
export async function pollNodeStep(target: NodeStepsTarget, id: string): Promise<ScriptStreams | undefined> {
  const answer = await post(target, Buffer.from(JSON.stringify({ id, poll: true })), QUICK_ANSWER_MS, 'poll');
  if (answer.status === 202) return undefined;
  return streamsOf(target, answer);
}

function stepBody(id: string, step: NodeStepRequest, background: boolean): Buffer {
  return Buffer.from(
    JSON.stringify({
      id,
      script: step.script.name,
      sha256: createHash('sha256').update(step.script.text).digest('hex'),
      text: step.script.text,
      parameters: step.parameters,
      secrets: step.secrets,
      timeoutSeconds: step.timeoutSeconds,
      ...(background ? { async: true } : {}),
    }),
  );
}

interface AgentAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
}

function streamsOf(target: NodeStepsTarget, answer: AgentAnswer): ScriptStreams {
  const body = answer.body ?? {};
  if (answer.status !== 200 || typeof body.stdout !== 'string') throw new Error(`the agent of ${target.node} answered HTTP ${answer.status} without the script's streams`);
  return { stdout: body.stdout, stderr: String(body.stderr ?? ''), exitCode: typeof body.exitCode === 'number' ? body.exitCode : undefined, ...(body.timedOut ? { executionState: 'TimedOut' } : {}) };
}

/** One signed request; 200 and 202 are answers, 404 unknown-id is NodeStepUnknown, every other status a refusal before anything ran. */
function post(target: NodeStepsTarget, body: Buffer, answerWithinMs: number, what: string): Promise<AgentAnswer> {
  const date = String(Math.floor(Date.now() / 1000));
  const signed = `POST\n/steps\n${date}\n${createHash('sha256').update(body).digest('hex')}`;
  const signature = createHmac('sha256', target.key).update(signed).digest('hex');
  return new Promise((resolve, reject) => {
    let delivered = false;
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: '/steps',
        method: 'POST',
        ...tlsTrust(target),
        servername: isIp(target.host) ? undefined : target.host,
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': body.length, 'X-Pgfo-Date': date, Authorization: `PGFO-HMAC-SHA256 ${signature}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(answerTimer);
          const text = Buffer.concat(chunks).toString('utf8');
          const answer = parse(text);
          const status = res.statusCode ?? 0;
          if (status === 200 || status === 202) resolve({ status, body: answer });
          else if (status === 404 && answer?.error === 'unknown-id') reject(new NodeStepUnknown(`the agent of ${target.node}: ${String(answer.detail)}`));
          // Every refusal comes before the agent runs anything (steps.py): the step did not run.
          else reject(new NodeAgentUnavailable(`the agent of ${target.node} refused ${what}: HTTP ${status} ${answer?.error ?? ''} ${answer?.detail ?? text.slice(0, 200)}`.trim()));
        });
      },
    );
    const connectTimer = setTimeout(() => req.destroy(new NodeAgentSilent(`the agent of ${target.node} did not accept a TLS connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    const answerTimer = setTimeout(() => req.destroy(new Error(`the agent of ${target.node} did not answer within ${answerWithinMs / 1000} s; whether ${what} ran is not known`)), answerWithinMs);
    req.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        delivered = true;
        clearTimeout(connectTimer);
      });
    });
    req.on('error', (error) => {
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
      reject(error instanceof NodeAgentUnavailable || !delivered ? asUnavailable(target.node, error) : error);
    });
    req.end(body);
  });
}

/**
 * The TLS options that make the connection fail before anything is sent unless the agent presents
 * a certificate the app trusts. A pinned self-signed certificate is its own trust anchor, and the
 * peer's must be that very certificate (its fingerprint), whatever names it carries.
 */
function tlsTrust(target: NodeStepsTarget): { ca: string; checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined } {
  if ('ca' in target.trust) return { ca: target.trust.ca };
  const pinned = new X509Certificate(target.trust.pinned).fingerprint256;
  return {
    ca: target.trust.pinned,
    checkServerIdentity: (_host, cert) => (cert.fingerprint256 === pinned ? undefined : new Error(`the agent of ${target.node} presented a certificate (${cert.fingerprint256}) other than the one pinned for it (${pinned})`)),
  };
}

function asUnavailable(node: string, error: Error): NodeAgentUnavailable {
  return error instanceof NodeAgentUnavailable ? error : new NodeAgentUnavailable(`the agent of ${node} could not be reached over TLS: ${error.message}`, { cause: error });
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
