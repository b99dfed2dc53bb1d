#!/usr/bin/env node
// Prometheus (Debian's prometheus package) for the local run: it scrapes the five services on their HTTP
// ports (SMTP_HTTP_PORT 9101 … POP3_HTTP_PORT 9105, as scripts/local.mjs) with the shipped alert rules, as
// the mailplatform-local job of deploy/observability/prometheus.yml does. Data in .data/prometheus; its UI
// and API on 127.0.0.1:PROMETHEUS_PORT (9090). PROMETHEUS_SCRAPE_INTERVAL (15s) as shipped.
import { join } from 'node:path';
import { localPorts, startPrometheus, takenPorts } from '@mail/launcher';

const env = process.env;
const dataDir = env.DATA_DIR ?? new URL('../.data', import.meta.url).pathname;
const port = Number(env.PROMETHEUS_PORT || 9090);
const taken = await takenPorts(new Map([['PROMETHEUS_PORT', port]]));
if (taken.length > 0) {
  console.error(`observe: ${taken[0]}; not started`);
  process.exit(1);
}
const prometheus = await startPrometheus({
  dir: join(dataDir, 'prometheus'),
  port,
  targets: localPorts(env).httpPorts,
  scrapeInterval: env.PROMETHEUS_SCRAPE_INTERVAL || '15s',
  evaluationInterval: '30s',
  echo: env.ECHO_LOGS === '1',
});
console.log(`Prometheus for the local run: ${prometheus.url} (targets ${prometheus.url}/targets, alerts ${prometheus.url}/alerts)
  rules:  deploy/observability/rules/mail-alerts.rules.yml
  data:   ${join(dataDir, 'prometheus')}
Stop with Ctrl-C.`);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await prometheus.stop();
    process.exit(0);
  });
}
void prometheus.process.exited.then((code) => {
  if (stopping) return;
  console.error(`observe: prometheus exited with ${code}:\n${prometheus.process.output()}`);
  process.exit(1);
});
