// The end of the reply to a locked login, the same at every edge (smtp-ingress, pop3-access): mailbox-store
// says how long the lock lasts, the edge says when to try again.

/** The end of a "locked" reply: when to retry, in seconds (minutes from two minutes on), rounded up. */
export function retryAfterText(retryAfterMs: number | undefined): string {
  if (!retryAfterMs || retryAfterMs <= 0) return 'try again later';
  const seconds = Math.ceil(retryAfterMs / 1000);
  if (seconds < 120) return `try again in ${seconds} second${seconds === 1 ? '' : 's'}`;
  return `try again in ${Math.ceil(seconds / 60)} minutes`;
}
