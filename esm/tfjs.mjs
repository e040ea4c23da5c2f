// ESM entry of spirt/tfjs: the CommonJS build's exports.
export * from '../dist/adapters/tfjs.js';
export { default } from '../dist/adapters/tfjs.js';
