import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import { Backend, Frontend, PoolMembership, RuleProbes, TcpLoadBalancer } from './tcp-load-balancer';
import type { IlbProbesView } from './ilb-client';

/** What the lab hands the load-balancer process at start. */
export interface IlbDaemonSpec {
  backends: Backend[];
  frontends: { write: Frontend; read: Frontend };
  control: Frontend;
  stateFile: string;
  initialPools: PoolMembership;
  /** Probe mode's settings at first start; unset: pool mode. */
  probes?: RuleProbes;
}

/** What the state file keeps: the pools and (null: pool mode) the probes, as Azure keeps its configuration. */
type SavedState = PoolMembership & { probes?: RuleProbes | null };

function log(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), component: 'lab-ilb', event, ...fields })}\n`);
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function isMembership(value: unknown): value is PoolMembership {
  const v = value as PoolMembership;
  return !!v && Array.isArray(v.writePool) && Array.isArray(v.readPool) && [...v.writePool, ...v.readPool].every((m) => typeof m === 'string');
}

async function main(specFile: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as IlbDaemonSpec;
  // Pools and probes survive a restart of this process, as they survive anything on Azure.
  const saved = existsSync(spec.stateFile) ? (JSON.parse(readFileSync(spec.stateFile, 'utf8')) as SavedState) : undefined;
  const probes = saved && 'probes' in saved ? (saved.probes ?? undefined) : spec.probes;
  const balancer = new TcpLoadBalancer(spec.backends, spec.frontends, probes);
  balancer.onProbeChange = (rule, backend, state) => log(state.up ? 'probe-up' : 'probe-down', { rule, backend, ...state });
  await balancer.start(saved ?? spec.initialPools);
  const save = () => writeFileSync(spec.stateFile, JSON.stringify({ ...balancer.pools(), probes: balancer.probes() ?? null } satisfies SavedState));
  save();
  const probesView = (): IlbProbesView => ({ settings: balancer.probes() ?? null, states: balancer.probeStates() ?? null });

  const control = createServer((request, response) => {
    void (async () => {
      if (request.url === '/health') return reply(response, 200, { ok: true });
      if (request.url === '/probes/phase') {
        // PUT {"phase": 0.25}: the lab's own control (Azure has no such setting), for the bench.
        if (request.method !== 'PUT') return reply(response, 405, { error: 'PUT /probes/phase' });
        const { phase } = (await readBody(request)) as { phase?: unknown };
        if (typeof phase !== 'number') return reply(response, 400, { error: 'body must be {"phase": a number from 0 to under 1}' });
        balancer.setProbePhase(phase);
        log('probe-phase-changed', { phase });
        return reply(response, 200, { phase });
      }
      if (request.url === '/probes') {
        if (request.method === 'GET') return reply(response, 200, probesView());
        if (request.method !== 'PUT' && request.method !== 'DELETE') return reply(response, 405, { error: 'GET, PUT or DELETE /probes' });
        // PUT {"write": {port, path, intervalMs, probeThreshold, timeoutMs?}, "read": {...}}: probe mode; DELETE: pool mode.
        const body = request.method === 'PUT' ? await readBody(request) : undefined;
        if (request.method === 'PUT' && (typeof body !== 'object' || body === null)) return reply(response, 400, { error: 'body must be {"write": {...}, "read": {...}}' });
        balancer.setProbes(body as RuleProbes | undefined);
        save();
        log('probes-changed', { probes: balancer.probes() ?? null });
        return reply(response, 200, probesView());
      }
      if (request.url !== '/pools') return reply(response, 404, { error: 'use /pools, /probes, /probes/phase or /health' });
      if (request.method === 'GET') return reply(response, 200, balancer.pools());
      if (request.method !== 'PUT') return reply(response, 405, { error: 'GET or PUT /pools' });
      const body = await readBody(request);
      if (!isMembership(body)) return reply(response, 400, { error: 'body must be {"writePool": [names], "readPool": [names]}' });
      balancer.setPools(body);
      save();
      log('pools-changed', { ...balancer.pools() });
      return reply(response, 200, balancer.pools());
    })().catch((error: Error) => reply(response, 400, { error: error.message }));
  });
  control.listen(spec.control.port, spec.control.host);
  await once(control, 'listening');
  log('listening', { write: spec.frontends.write, read: spec.frontends.read, control: spec.control, ...balancer.pools(), probes: balancer.probes() ?? null });

  const shutdown = () => {
    control.close();
    void balancer.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main(process.argv[2]).catch((error: Error) => {
  log('failed', { error: error.message });
  process.exit(1);
});
