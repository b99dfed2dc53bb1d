#!/usr/bin/env node
// Writes the `authorization` block of deploy/k8s/base/config/nats.conf from libs/contracts
// nats-permissions.ts (after `npm run build`): a user per service, its password from the variable the
// NATS StatefulSet sets from that service's Secret. deploy-check fails while the file differs from it.
import { readFileSync, writeFileSync } from 'node:fs';
import { natsAuthorizationConfig, natsPasswordVariable } from '@mail/contracts';

const file = new URL('../deploy/k8s/base/config/nats.conf', import.meta.url);
const text = readFileSync(file, 'utf8');
const at = text.indexOf('authorization {');
if (at < 0) throw new Error('nats.conf has no authorization block');
writeFileSync(file, text.slice(0, at) + natsAuthorizationConfig((service) => `$${natsPasswordVariable(service)}`));
