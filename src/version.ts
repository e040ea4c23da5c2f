import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from './paths';

/** spirt's version, as its package.json gives it. */
export const spirtVersion: string = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
