export * from './errors';
export * from './dtype';
export * from './tensor';
export * from './wire';
export * as kernels from './kernels';
export * as reference from './reference';
export { startRedis, findRedisServer } from './redis/launcher';
export type { RunningRedis, StartRedisOptions } from './redis/launcher';
export { modulePath } from './redis/modulePath';
