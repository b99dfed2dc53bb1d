// The mail listeners' wire: the line connection that drives a line protocol (with its line reader, input
// deadlines and STARTTLS/STLS upgrade), dot-stuffing, the accept path (connection limits, PROXY protocol,
// implicit TLS) and the listener certificate. What smtp-ingress and pop3-access share on the TCP side.
// Also the grammar of the DSN parameters (RFC 3461), which smtp-ingress reads and delivery-agent writes.
export * from './tls.js';
export * from './line-reader.js';
export * from './accept.js';
export * from './proxy-protocol.js';
export * from './connection-limits.js';
export * from './input-deadline.js';
export * from './dot-stuffing.js';
export * from './dsn-parameters.js';
export * from './line-connection.js';
