import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'harness/bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // An unawaited promise is a step that can fail unseen: every one is awaited, returned or
      // explicitly `void`ed, and no promise goes where a plain callback is expected.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['orchestrations/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date']", message: 'Use context.df.currentUtcDateTime in orchestrators.' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use context.df.currentUtcDateTime in orchestrators.' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Orchestrators must be deterministic.' },
        { selector: "CallExpression[callee.name=/^set(Timeout|Interval|Immediate)$/]", message: 'Use context.df.createTimer in orchestrators.' },
        { selector: 'AwaitExpression', message: 'Orchestrators yield tasks; they never await I/O.' },
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Orchestrators take configuration through their input or an activity.' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
