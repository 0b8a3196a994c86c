/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // The stand-ins' conformance tests live in their packages.
  roots: ['<rootDir>/test', '<rootDir>/packages'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // 2 cores: one test file per core; each file owns its own Postgres schema and stand-ins.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  testTimeout: 60_000,
  setupFiles: ['<rootDir>/test/helpers/jest-setup.ts'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
