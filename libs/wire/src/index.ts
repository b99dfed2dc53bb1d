// The mail listeners' wire: the line reader and dot-stuffing of line protocols, the accept path (connection
// limits, PROXY protocol, implicit TLS), STARTTLS/STLS upgrades and the listener certificate, and input
// deadlines. What smtp-ingress and pop3-access share on the TCP side; it changes when the protocols do.
// Also the grammar of the DSN parameters (RFC 3461), which smtp-ingress reads and delivery-agent writes.
export * from './tls.js';
export * from './line-reader.js';
export * from './accept.js';
export * from './proxy-protocol.js';
export * from './connection-limits.js';
export * from './input-deadline.js';
export * from './dot-stuffing.js';
export * from './dsn-parameters.js';
