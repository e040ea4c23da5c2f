#!/usr/bin/env node
// Generates static protobufjs code for proto/tensor.proto into src/gen (JS + type declarations).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'src', 'gen');
fs.mkdirSync(out, { recursive: true });
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const js = path.join(out, 'tensor.js');
execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'commonjs', '--force-number', '--no-verify',
  '--no-convert', '--no-delimited', '--no-service', '-o', js, path.join(root, 'proto', 'tensor.proto')], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['-o', path.join(out, 'tensor.d.ts'), js], { stdio: 'inherit' });
