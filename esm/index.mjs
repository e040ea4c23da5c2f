// ESM entry of spirt: the CommonJS build's exports, one instance for import and require alike.
export * from '../dist/index.js';
export { default } from '../dist/index.js';
