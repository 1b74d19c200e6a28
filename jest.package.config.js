/** `npm run test:package`: the deployment zip (built by `npm run package`) unpacked and run. */
module.exports = {
  testTimeout: 300000,
  forceExit: true,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testMatch: ['<rootDir>/test/package/**/*.test.ts'],
};
