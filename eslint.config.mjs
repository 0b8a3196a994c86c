// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'http',
  'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'readline', 'stream', 'timers', 'tls', 'url',
  'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

// The stand-ins and the development platform are development tools, absent from a production install
// (`npm ci --omit=dev`): product code that runs in production must not load them.
const devPackages = {
  group: ['@crowdfund/*', '**/packages/**'],
  message: 'only src/cli/start.ts, src/demo/ and tests may import the stand-ins and the development platform',
};

// Only src/api/ knows HTTP: the domain throws DomainError (src/errors.ts), and the worker never loads the HTTP layer.
// Relative specifiers only, so a package that happens to be called `api` is not caught.
const httpLayer = {
  regex: '^\\.{1,2}/(.*/)?api(/|$)',
  message: 'only src/api/ and src/cli/start.ts may import src/api/: throw DomainError (src/errors.ts) instead of HTTP errors',
};

export default tseslint.config(
  { ignores: ['dist/**', 'packages/*/dist/**', 'node_modules/**', 'coverage/**', '.data/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Migrations are frozen in time: they take Kysely<any> and never import the app's types.
    files: ['db/migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts', 'db/**/*.ts'],
    ignores: ['src/cli/start.ts', 'src/demo/**', 'src/api/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [devPackages, httpLayer] }] },
  },
  {
    files: ['src/api/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [devPackages] }] },
  },
  {
    files: ['src/demo/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [httpLayer] }] },
  },
  {
    // A package imports nothing from the product (nor another package by path: by its name).
    files: ['packages/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['../../*'], message: 'a package must not import the product, nor another package by path' }],
      }],
    },
  },
  {
    // Workflow code must stay deterministic: no side-effecting modules, activities only as types.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...nodeBuiltins.flatMap((name) => [
            { name, message: 'workflows/ must not import Node built-ins' },
            { name: `node:${name}`, message: 'workflows/ must not import Node built-ins' },
          ]),
          { name: 'pg', message: 'workflows/ must not touch the database; use an activity' },
          { name: 'stripe', message: 'workflows/ must not call Stripe; use an activity' },
          { name: 'express', message: 'workflows/ must not import the HTTP layer' },
          { name: 'kysely', message: 'workflows/ must not touch the database; use an activity' },
        ],
        patterns: [
          { group: ['**/activities', '**/activities/**'], allowTypeImports: true,
            message: 'import activities as types only (proxyActivities<ReturnType<typeof createActivities>>)' },
          { group: ['**/db', '**/db/**'], allowTypeImports: true,
            message: 'workflows/ must not import side-effecting modules' },
          // This block replaces the rule set above for workflows/, so it repeats the boundaries.
          devPackages,
          httpLayer,
        ],
      }],
    },
  },
);
