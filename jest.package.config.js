/** `npm run test:package`: the deployment zip (built by `npm run package`) unpacked and run. */
module.exports = {
  testTimeout: 300000,
  forceExit: true,
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // jose 6 is ESM only: compiled to CommonJS for Jest's loader, as in jest.config.js.
    '/node_modules/jose/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testMatch: ['<rootDir>/test/package/**/*.test.ts'],
};
