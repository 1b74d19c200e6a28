import { createHash, createHmac, randomUUID } from 'node:crypto';
import { request } from 'node:https';
import type { ScriptStreams } from '../script-outcome';

/** Where one node's agent serves its steps, and how to trust it and sign for it. */
export interface NodeStepsTarget {
  node: string;
  host: string;
  port: number;
  /** The node's step key (raw bytes, from Key Vault). */
  key: Buffer;
  /** PEM CA that signed the node's certificate (the cluster's PostgreSQL CA). */
  ca: string;
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

const CONNECT_TIMEOUT_MS = 2000;

/**
 * POST /steps on a node's agent (agent/node_agent/steps.py): signed with the node's key, the
 * script's SHA-256 so the agent runs only its own identical copy, one id per call. Resolves with
 * the script's streams once it ran; throws NodeAgentUnavailable when it did not run; any other
 * error (the connection lost after the request went out) leaves unknown whether it ran.
 */
export function runNodeStep(target: NodeStepsTarget, step: NodeStepRequest, now: () => number = Date.now): Promise<ScriptStreams> {
  const body = Buffer.from(
    JSON.stringify({
      id: randomUUID(),
      script: step.script.name,
      sha256: createHash('sha256').update(step.script.text).digest('hex'),
      parameters: step.parameters,
      secrets: step.secrets,
      timeoutSeconds: step.timeoutSeconds,
    }),
  );
  const date = String(Math.floor(now() / 1000));
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
        ca: target.ca,
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
          if (res.statusCode === 200 && answer && typeof answer.stdout === 'string') {
            resolve({ stdout: answer.stdout, stderr: String(answer.stderr ?? ''), exitCode: typeof answer.exitCode === 'number' ? answer.exitCode : undefined, ...(answer.timedOut ? { executionState: 'TimedOut' } : {}) });
            return;
          }
          // Every refusal comes before the agent runs anything (steps.py): the step did not run.
          reject(new NodeAgentUnavailable(`the agent of ${target.node} refused the step: HTTP ${res.statusCode} ${answer?.error ?? ''} ${answer?.detail ?? text.slice(0, 200)}`.trim()));
        });
      },
    );
    const connectTimer = setTimeout(() => req.destroy(new NodeAgentUnavailable(`the agent of ${target.node} did not accept a TLS connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    // The script's own bound, and a margin for the agent to answer after it.
    const answerTimer = setTimeout(() => req.destroy(new Error(`the agent of ${target.node} did not answer within ${step.timeoutSeconds + 30} s; whether ${step.script.name} ran is not known`)), (step.timeoutSeconds + 30) * 1000);
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
