// What the session tests share: a command whose reply is due now (every verb but BDAT, whose reply comes
// after its chunk).
import type { Reply } from './replies.js';
import type { SmtpSession } from './session.js';

export async function commandReply(session: SmtpSession, line: string): Promise<Reply> {
  const reply = await session.command(line);
  if (reply === undefined) throw new Error(`no reply to ${JSON.stringify(line)}: the session awaits a BDAT chunk`);
  return reply;
}
