// Reads a password: from a prompt with echo off on a terminal, else the first line of stdin (scripts). A new
// password is typed twice on a terminal, and a trivial one (short, or the account's own name) is refused
// unless the operator insists (--force).
import { createInterface } from 'node:readline';

/** Shorter new passwords are refused without --force. */
export const MIN_PASSWORD_LENGTH = 8;

/** Why a new password is too weak to set without --force, or undefined when it is not. */
export function trivialPasswordReason(password: string, address: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `the password is shorter than ${MIN_PASSWORD_LENGTH} characters`;
  const lower = password.toLowerCase();
  const local = address.slice(0, address.lastIndexOf('@')).toLowerCase();
  if (lower === address.toLowerCase() || lower === local) return 'the password is the account name';
  return undefined;
}

/**
 * A new password for `address`: on a terminal typed twice (they must match); from stdin, its first line.
 * Refused when trivial, unless `force`.
 */
export async function readNewPassword(address: string, options: { force?: boolean; prompt?: string }, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  const prompt = options.prompt ?? `Password for ${address}: `;
  const password = await readPassword(prompt, input);
  if (input.isTTY && (await readPassword(`Retype ${prompt}`, input)) !== password) throw new Error('the two passwords differ; nothing changed');
  const weak = options.force ? undefined : trivialPasswordReason(password, address);
  if (weak) throw new Error(`${weak}; choose another, or give --force to set it anyway`);
  return password;
}

export async function readPassword(prompt: string, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!input.isTTY) {
    const lines = createInterface({ input, crlfDelay: Infinity });
    for await (const line of lines) {
      lines.close();
      return line;
    }
    throw new Error('no password on standard input');
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  let password = '';
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done();
          process.stderr.write('\n');
          return resolve(password);
        }
        if (char === '\u0003') {
          done();
          return reject(new Error('interrupted'));
        }
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    };
    const done = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
    };
    input.on('data', onData);
  });
}
