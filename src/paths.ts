import path from 'node:path';

/** The package root: one level above src/ (tests) or dist/ (installed). */
export const packageRoot = path.resolve(__dirname, '..');

/** Where the native build (cmake-js) puts the addon and the Redis module. */
export const buildDir = path.join(packageRoot, 'build', 'Release');
