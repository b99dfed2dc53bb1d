// Shared plumbing for every service: configuration, logging, health/metrics, gRPC and NATS wiring.
export * from './config.js';
export * from './logger.js';
export * from './observability.js';
export * from './grpc.js';
export * from './nats.js';
export * from './spool.js';
export * from './lifecycle.js';
export * from './net.js';
export * from './dot-stuffing.js';
export * from './tls.js';
export * from './auth-throttle.js';
export * from './metrics.js';
export * from './proxy-protocol.js';
export * from './accept.js';
export * from './networks.js';
export * from './line-reader.js';
export * from './events.js';
