// The TLS profile of every TLS endpoint whose both ends we run or whose policy is ours: Mozilla's
// "intermediate" configuration — TLS 1.2 with ECDHE key exchange and AEAD ciphers (AES-GCM,
// ChaCha20-Poly1305) only, and every TLS 1.3 suite. No CBC, CCM, ARIA or static-RSA suites.

export const TLS_MIN_VERSION = 'TLSv1.2';

/** OpenSSL cipher list: the TLS 1.3 suites, then the TLS 1.2 ones in Mozilla's order. */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
