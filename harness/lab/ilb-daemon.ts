import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { once } from 'node:events';
import { Backend, Frontend, PoolMembership, TcpLoadBalancer } from './tcp-load-balancer';

/** What the lab hands the load-balancer process at start. */
export interface IlbDaemonSpec {
  backends: Backend[];
  frontends: { write: Frontend; read: Frontend };
  control: Frontend;
  stateFile: string;
  initialPools: PoolMembership;
}

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
  // Pools survive a restart of this process, as they survive anything on Azure.
  const pools = existsSync(spec.stateFile) ? (JSON.parse(readFileSync(spec.stateFile, 'utf8')) as PoolMembership) : spec.initialPools;
  const balancer = new TcpLoadBalancer(spec.backends, spec.frontends);
  await balancer.start(pools);
  writeFileSync(spec.stateFile, JSON.stringify(balancer.pools()));

  const control = createServer((request, response) => {
    void (async () => {
      if (request.url === '/health') return reply(response, 200, { ok: true });
      if (request.url !== '/pools') return reply(response, 404, { error: 'use /pools or /health' });
      if (request.method === 'GET') return reply(response, 200, balancer.pools());
      if (request.method !== 'PUT') return reply(response, 405, { error: 'GET or PUT /pools' });
      const body = await readBody(request);
      if (!isMembership(body)) return reply(response, 400, { error: 'body must be {"writePool": [names], "readPool": [names]}' });
      balancer.setPools(body);
      writeFileSync(spec.stateFile, JSON.stringify(balancer.pools()));
      log('pools-changed', { ...balancer.pools() });
      return reply(response, 200, balancer.pools());
    })().catch((error: Error) => reply(response, 400, { error: error.message }));
  });
  control.listen(spec.control.port, spec.control.host);
  await once(control, 'listening');
  log('listening', { write: spec.frontends.write, read: spec.frontends.read, control: spec.control, ...balancer.pools() });

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
