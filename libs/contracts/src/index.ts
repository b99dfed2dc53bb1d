// Contracts between services: generated gRPC stubs (proto/) and the NATS JetStream topology and payloads.
export * from './gen/mail/v1/mailbox.js';
export {
  QueueAdminClient,
  QueueAdminService,
  type QueueAdminServer,
  type ListQueueRequest,
  type ListQueueResponse,
  type QueueIdRequest,
  type RetryRequest,
  type DeleteRequest,
  type AdminResponse,
  type QueuedDestination,
  type QueuedMessage,
  type MessageChunk,
} from './gen/mail/v1/queue.js';
export * from './nats.js';
export * from './deliver-many.js';
export * from './nats-permissions.js';
