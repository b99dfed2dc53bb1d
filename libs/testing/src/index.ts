// The test kit: the launcher's platform (libs/launcher) with test conveniences on top — NATS and MongoDB
// in containers when an engine answers, a NATS cluster, a loopback DNS server, clients, a scripted SMTP
// server, a test CA, Prometheus rules that fire sooner, scratch directories.
export * from './nats-server.js';
export * from './nats-cluster.js';
export * from './mail-system.js';
export * from './prometheus.js';
export * from './clients.js';
export * from './scripted-smtp.js';
export * from './test-ca.js';
export * from './dns-server.js';
export * from './policy-server.js';
export * from './report-receiver.js';
export * from './temporary-directories.js';
