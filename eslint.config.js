// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'python/**',
      'test-results/**',
      'bench/results/**',
      'build/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Curated entry points: every package names what it exports.
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Use named exports, not `export *`.' },
      ],
    },
  },
  {
    // The core is pure: no files, sockets, processes or clocks. Time and ids are injected.
    files: ['packages/core/src/**/*.ts'],
    ignores: ['packages/core/src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'packages/core is pure: no Node built-ins.' },
            {
              group: ['fs', 'path', 'os', 'child_process', 'crypto', 'net', 'http'],
              message: 'packages/core is pure.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'packages/core is pure: inject timers.' },
        { name: 'setInterval', message: 'packages/core is pure: inject timers.' },
        { name: 'process', message: 'packages/core is pure: no process access.' },
        { name: 'fetch', message: 'packages/core is pure: no I/O.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'packages/core is pure: inject the clock.' },
        { object: 'Math', property: 'random', message: 'packages/core is pure: inject ids.' },
      ],
    },
  },
  {
    // The web client runs in browsers and is React: hooks must follow React's rules.
    files: ['packages/client/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
);
