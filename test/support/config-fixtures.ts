/** A valid configuration document that tests mutate to produce each kind of bad input. */
export function validConfigDocument(): Record<string, unknown> {
  const sub = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/pg-rg/providers';
  return {
    clusters: [
      {
        name: 'orders',
        nodes: ['pg1', 'pg2', 'pg3'].map((name, index) => ({
          name,
          vmResourceId: `${sub}/Microsoft.Compute/virtualMachines/${name}`,
          nicResourceId: `${sub}/Microsoft.Network/networkInterfaces/${name}-nic`,
          host: `10.0.1.${11 + index}`,
          port: 5432,
        })),
        loadBalancer: {
          resourceId: `${sub}/Microsoft.Network/loadBalancers/pg-ilb`,
          writePool: 'pg-write',
          readPool: 'pg-read',
          membership: 'nic',
        },
        postgres: {
          adminPasswordSecret: 'pg-admin-password',
          replicationPasswordSecret: 'pg-replication-password',
          sslRootCertSecret: 'pg-tls-ca',
          applicationRoles: ['app'],
        },
      },
    ],
  };
}
