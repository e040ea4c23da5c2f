#!/usr/bin/env node
// tsc does not emit the generated protobuf module nor the ASL definition: copy them beside the compiled code.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dest = path.join(root, 'dist', 'gen');
fs.mkdirSync(dest, { recursive: true });
for (const f of ['tensor.js', 'tensor.d.ts']) fs.copyFileSync(path.join(root, 'src', 'gen', f), path.join(dest, f));
fs.mkdirSync(path.join(root, 'dist', 'orchestrate'), { recursive: true });
fs.copyFileSync(path.join(root, 'src', 'orchestrate', 'epoch.asl.json'), path.join(root, 'dist', 'orchestrate', 'epoch.asl.json'));
