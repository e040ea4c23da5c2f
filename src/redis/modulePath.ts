import { locateBinary } from '../binaries';

/** Absolute path of the spirt Redis module (load it with `redis-server --loadmodule PATH`). */
export function modulePath(): string {
  return locateBinary('module');
}
