// Flat ESLint config: typescript-eslint's recommended rules for the TypeScript sources and tests,
// eslint's recommended rules for the plain JavaScript (entry points, scripts, the example plugin).
// `npm run lint` runs this and then the type check (tsc -b).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The Node.js globals the plain JavaScript files use (TypeScript files are checked by tsc instead).
const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'URL', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'AbortController', 'fetch', 'structuredClone']
    .map((name) => [name, 'readonly']),
);

export default tseslint.config(
  {ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '.lc-state/**', '**/*.d.ts']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {ecmaVersion: 2023, sourceType: 'module', globals: nodeGlobals},
    rules: {
      // Unused values are usually mistakes; a leading underscore marks the deliberate ones.
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
      // Empty catch blocks are used on purpose for best-effort cleanup; they carry a comment.
      'no-empty': ['error', {allowEmptyCatch: true}],
      'prefer-const': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Tests reach into results loosely typed as JSON; `any` there is the honest type.
    files: ['test/**/*.ts', 'plugins/*/test/**/*.ts', 'bench/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off'},
  },
  {
    // CommonJS config files of tools that load them with require (.dependency-cruiser.cjs).
    files: ['**/*.cjs'],
    languageOptions: {sourceType: 'commonjs', globals: {module: 'writable', require: 'readonly'}},
  },
);
