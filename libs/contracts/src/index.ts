// Contracts between services: generated gRPC stubs (proto/) and the NATS JetStream topology and payloads.
export * from './gen/mail/v1/mailbox.js';
export * from './nats.js';
