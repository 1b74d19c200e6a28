/**
 * How to start one of our own modules as a separate Node process: compiled JavaScript runs as is;
 * TypeScript sources (under tsx or ts-jest) run through tsx's CommonJS loader.
 */
export function nodeArgsFor(modulePath: string): string[] {
  return modulePath.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs'), modulePath] : [modulePath];
}

/** The sibling module `name` of `fromFile`, keeping the caller's .ts/.js flavour. */
export function siblingModule(fromFile: string, name: string): string {
  return fromFile.replace(/[^/]+\.(ts|js)$/, `${name}.$1`);
}
