// Starts real servers for integration tests and for the local run: nats-server and the five services
// as child processes on loopback, with free ports and a scratch data directory.
export * from './ports.js';
export * from './processes.js';
export * from './nats-server.js';
export * from './nats-cluster.js';
export * from './nats-auth.js';
export * from './mail-system.js';
export * from './local-run.js';
export * from './prometheus.js';
export * from './clients.js';
export * from './scripted-smtp.js';
export * from './test-ca.js';
export * from './dns-server.js';
export * from './temporary-directories.js';
