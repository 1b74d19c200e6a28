import { conninfoTarget } from '../../../src/domain/conninfo';

describe('conninfoTarget: where a primary_conninfo points (host and port only)', () => {
  it('reads key=value pairs as follow.sh and pg_basebackup -R write them', () => {
    expect(conninfoTarget('host=127.31.6.2 port=5432 user=replicator passfile=/var/lib/pgfo/.pgpass application_name=pg3 connect_timeout=5')).toEqual({ host: '127.31.6.2', port: 5432 });
    expect(conninfoTarget("user=replicator password='se cr\\'et' channel_binding=prefer host='10.0.0.5' port = '5433' sslmode=prefer")).toEqual({ host: '10.0.0.5', port: 5433 });
  });

  it('falls back to hostaddr, and reports no host or port when there is none (an empty setting)', () => {
    expect(conninfoTarget('hostaddr=10.0.0.6 user=r')).toEqual({ host: '10.0.0.6', port: null });
    expect(conninfoTarget('')).toEqual({ host: null, port: null });
    expect(conninfoTarget('host=db port=not-a-port')).toEqual({ host: 'db', port: null });
  });

  it('keeps what it read before a malformed tail', () => {
    expect(conninfoTarget("host=db port=5432 application_name='unterminated")).toEqual({ host: 'db', port: 5432 });
  });

  it('reads URIs, their query parameters and IPv6 hosts; a host list stays a list', () => {
    expect(conninfoTarget('postgresql://replicator:pw@10.0.0.7:5434/postgres?sslmode=require')).toEqual({ host: '10.0.0.7', port: 5434 });
    expect(conninfoTarget('postgres://[::1]:5435')).toEqual({ host: '::1', port: 5435 });
    expect(conninfoTarget('postgresql:///postgres?host=%2Fvar%2Frun%2Fpostgresql&port=5436')).toEqual({ host: '/var/run/postgresql', port: 5436 });
    expect(conninfoTarget('postgresql://a:5432,b:5432/postgres')).toEqual({ host: 'a,b', port: 5432 });
  });
});
