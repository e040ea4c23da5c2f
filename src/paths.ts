import path from 'node:path';

/** The package root: one level above src/ (tests) or dist/ (installed). */
export const packageRoot = path.resolve(__dirname, '..');
