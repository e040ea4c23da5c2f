// ESM entry of spirt/functions (the Lambda handlers): the CommonJS build's exports.
export * from '../dist/functions/index.js';
export { default } from '../dist/functions/index.js';
