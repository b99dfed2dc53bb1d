// Runs the platform on this machine as processes: nats-server and the five services with given settings,
// ports and data directory (launch.ts), the local run's ports, log files and banner (local-run.ts), and a
// Prometheus scraping them with the shipped rules (prometheus.ts).
// Used by scripts/local.mjs and scripts/observe-local.mjs and, under its test conveniences, by libs/testing.
// No containers.
export * from './ports.js';
export * from './processes.js';
export * from './log-file.js';
export * from './nats-server.js';
export * from './nats-auth.js';
export * from './launch.js';
export * from './local-run.js';
export * from './prometheus.js';
