/** Unit tests are pure; integration tests run real PostgreSQL. Each integration file brings up its
 *  own lab on its own loopback block (127.<block>.x), so files never share servers or ports. */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
/** commander 15 and jose 6 are ESM only. Node 22 loads them with require(esm), but Jest's own
 *  module loader does that only on Node 24.9+: until then Jest compiles them to CommonJS like our sources. */
const transforms = {
  transform: {
    '^.+\\.ts$': tsJest,
    '/node_modules/(commander|jose)/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!commander/|jose/)'],
  // dist/ holds build output (the deployment package's own package.json among it), not modules to map.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
module.exports = {
  testTimeout: 120000,
  // Two files at a time: each integration file has its own loopback block (127.<block>.x), so
  // files share no server or port, and most of their time is spent waiting on PostgreSQL and timers.
  maxWorkers: 2,
  // A failed test can leave a write load or a server connection running; it is reported as a
  // failure either way, but must not keep the run from ending.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      ...transforms,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      ...transforms,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
  ],
};
