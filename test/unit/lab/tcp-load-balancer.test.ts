import { createServer, Server, connect, Socket } from 'node:net';
import { once } from 'node:events';
import { TcpLoadBalancer } from '../../../harness/lab/tcp-load-balancer';

/** A backend that greets every connection with its own name, then echoes. */
async function namedServer(name: string, host: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}

const portOf = (server: Server) => (server.address() as { port: number }).port;

async function greeting(socket: Socket): Promise<string> {
  const [data] = (await once(socket, 'data')) as [Buffer];
  return data.toString().trim();
}

async function openVia(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

describe('lab TCP load balancer', () => {
  let servers: Server[];
  let balancer: TcpLoadBalancer;
  let writePort: number;

  beforeEach(async () => {
    servers = await Promise.all(['a', 'b', 'c'].map((name) => namedServer(name, '127.0.0.1')));
    const backends = servers.map((server, index) => ({ name: 'abc'[index], host: '127.0.0.1', port: portOf(server) }));
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    writePort = portOf(probe);
    probe.close();
    balancer = new TcpLoadBalancer(backends, { write: { host: '127.0.0.1', port: writePort }, read: { host: '127.0.0.1', port: 0 } });
    await balancer.start({ writePool: ['a'], readPool: ['b', 'c'] });
  });

  afterEach(async () => {
    await balancer.stop();
    servers.forEach((server) => server.close());
  });

  it('sends new connections to the current pool member and keeps established flows when the pool changes', async () => {
    const first = await openVia(writePort);
    expect(await greeting(first)).toBe('a');

    balancer.setPools({ writePool: ['b'], readPool: ['c'] });
    const second = await openVia(writePort);
    expect(await greeting(second)).toBe('b');

    // The flow opened before the change still reaches a (Azure's Standard LB keeps established flows).
    first.write('still here\n');
    expect(await greeting(first)).toBe('still here');
    first.destroy();
    second.destroy();
  });

  it('accepts no connection while the pool is empty', async () => {
    balancer.setPools({ writePool: [], readPool: ['b', 'c'] });
    const socket = connect(writePort, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'close');
    expect(socket.bytesRead).toBe(0);
  });

  it('refuses unknown backends and leaves the pools as they were', () => {
    expect(() => balancer.setPools({ writePool: ['z'], readPool: [] })).toThrow(/unknown backend\(s\) z/);
    expect(balancer.pools()).toEqual({ writePool: ['a'], readPool: ['b', 'c'] });
  });
});
