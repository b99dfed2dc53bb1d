#!/usr/bin/env node
// Generates TypeScript gRPC stubs from proto/ into libs/contracts/src/gen (ts-proto through buf).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../libs/contracts/src/gen', import.meta.url), { recursive: true, force: true });
execFileSync('node_modules/.bin/buf', ['generate'], { cwd: root, stdio: 'inherit' });
