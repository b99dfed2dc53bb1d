// Public API of the shared MIME codec (RFC 5322, MIME RFC 2045-2049, RFC 2047, RFC 2231).
export {};
