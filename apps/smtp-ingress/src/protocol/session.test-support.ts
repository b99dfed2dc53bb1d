// What the session tests share: a command whose reply is due now (every verb but BDAT, whose reply comes
// after its chunk), and a message store in memory.
import type { Reply } from './replies.js';
import type { Envelope, MessageSink, SmtpSession } from './session.js';

export async function commandReply(session: SmtpSession, line: string): Promise<Reply> {
  const reply = await session.command(line);
  if (reply === undefined) throw new Error(`no reply to ${JSON.stringify(line)}: the session awaits a BDAT chunk`);
  return reply;
}

/**
 * storeMessage for tests: the pieces are collected in memory and handed whole, trace prefix first, to
 * `enqueue` at commit (which throws to refuse).
 */
export function storeInMemory(enqueue: (queueId: string, envelope: Envelope, message: Buffer, clientAddress: string) => Promise<void>): (queueId: string) => MessageSink {
  return (queueId) => {
    const pieces: Buffer[] = [];
    return {
      write: (piece) => void pieces.push(Buffer.from(piece)),
      commit: (prefix, envelope, clientAddress) => enqueue(queueId, envelope, Buffer.concat([prefix, ...pieces]), clientAddress),
      abort: () => undefined,
    };
  };
}
