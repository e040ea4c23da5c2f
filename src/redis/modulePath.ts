import fs from 'node:fs';
import path from 'node:path';
import { NativeLoadError } from '../errors';
import { buildDir } from '../paths';

/** Absolute path of the built Redis module (load it with `redis-server --loadmodule PATH`). */
export function modulePath(): string {
  const file = path.join(buildDir, 'spirt_redis.so');
  if (!fs.existsSync(file)) {
    throw new NativeLoadError('ERR_MODULE_MISSING', `spirt Redis module not found at ${file}: run 'npm run build:native'`);
  }
  return file;
}
