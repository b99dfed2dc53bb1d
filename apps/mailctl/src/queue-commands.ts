// mailctl queue ...: look at and act on the mail queue, like postqueue -p / postsuper / postcat.
import type { Command } from 'commander';
import type { MessageChunk, QueuedMessage } from '@mail/contracts';
import { deadline, unary } from '@mail/platform';
import { action } from './cli.js';

/** A duration for a person: seconds up to two minutes, then minutes, hours, days. */
export function durationText(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

const age = (ms: number, now = Date.now()): string => durationText(Math.max(0, Math.round((now - ms) / 1000)));

function nextAttempt(message: QueuedMessage): string {
  if (message.held) return 'held';
  if (message.pending === 0) return '-';
  const waiting = message.destinations.filter((d) => d.state === 'pending' && !d.inFlight);
  if (waiting.length === 0) return 'being delivered';
  return message.nextAttemptAtMs <= Date.now() ? 'now' : new Date(message.nextAttemptAtMs).toISOString();
}

/** A message's envelope and each destination's state, as `queue show` and `queue cat` print it. */
function printEnvelope(m: QueuedMessage): void {
  console.log(`queue id:     ${m.queueId}${m.bounceOf ? ` (notice about ${m.bounceOf})` : ''}`);
  console.log(`sender:       ${m.sender || '<>'}${m.requireTls ? ' (REQUIRETLS)' : ''}`);
  console.log(`size:         ${m.size} bytes`);
  console.log(`received:     ${new Date(m.receivedAtMs).toISOString()} (${age(m.receivedAtMs)} ago)`);
  console.log(`status:       ${m.held ? 'held' : m.pending > 0 ? `${m.pending} pending, next attempt ${nextAttempt(m)}` : 'done'}`);
  for (const d of m.destinations) {
    console.log(`  ${d.recipient}: ${d.state}, ${d.attempts} attempt(s)${d.remoteMta ? ` via ${d.remoteMta}` : ''}${d.lastReply ? ` — ${d.lastReply}` : ''}`);
  }
}

/** Plain JSON for scripts: numbers as numbers, times as ISO strings too. */
function toJson(message: QueuedMessage) {
  return {
    ...message,
    receivedAt: new Date(message.receivedAtMs).toISOString(),
    nextAttemptAt: message.nextAttemptAtMs ? new Date(message.nextAttemptAtMs).toISOString() : null,
  };
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('the mail queue (queue-manager)');
  queue
    .command('list')
    .description('messages in the queue: id, sender, age, destinations left, next attempt, last error')
    .option('--json', 'one JSON array, for scripts')
    .action(
      action(async (c, options: { json?: boolean }) => {
        const admin = c.queue();
        const { messages, unplanned } = await unary(admin.listQueue.bind(admin), {}, c.timeout);
        // Accepted with 250 but not yet made queue entries: part of the queue all the same.
        const arriving = unplanned > 0 ? `; ${unplanned} more accepted, being queued` : '';
        if (options.json) {
          console.log(JSON.stringify(messages.map(toJson), null, 2));
          return;
        }
        if (messages.length === 0) {
          console.log(unplanned > 0 ? `-- 0 message(s)${arriving}` : 'mail queue is empty');
          return;
        }
        console.log(['QUEUE ID'.padEnd(20), 'AGE'.padStart(5), 'LEFT'.padStart(4), 'NEXT ATTEMPT'.padEnd(24), 'SENDER', '/ LAST ERROR'].join('  '));
        for (const m of messages) {
          console.log([m.queueId.padEnd(20), age(m.receivedAtMs).padStart(5), String(m.pending).padStart(4), nextAttempt(m).padEnd(24), m.sender || '<>'].join('  '));
          if (m.lastError) console.log(`${' '.repeat(22)}${m.lastError}`);
        }
        console.log(`-- ${messages.length} message(s)${arriving}`);
      }),
    );
  queue
    .command('show <id>')
    .description('one message and each of its destinations')
    .option('--json', 'JSON output')
    .action(
      action(async (c, id: string, options: { json?: boolean }) => {
        const admin = c.queue();
        const m = await unary(admin.showMessage.bind(admin), { queueId: id }, c.timeout);
        if (options.json) {
          console.log(JSON.stringify(toJson(m), null, 2));
          return;
        }
        printEnvelope(m);
      }),
    );
  queue
    .command('cat <id>')
    .description('a queued message as accepted, headers and body, after its envelope (like postcat)')
    .option('--content-only', 'only the message itself, byte for byte (to save or pipe it)')
    .action(
      action(async (c, id: string, options: { contentOnly?: boolean }) => {
        const admin = c.queue();
        if (!options.contentOnly) {
          printEnvelope(await unary(admin.showMessage.bind(admin), { queueId: id }, c.timeout));
          console.log(`*** MESSAGE CONTENTS ${id} ***`);
        }
        const stream = admin.readMessage({ queueId: id }, { deadline: deadline(c.timeout) });
        for await (const chunk of stream as AsyncIterable<MessageChunk>) {
          if (!process.stdout.write(chunk.data)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
        if (!options.contentOnly) console.log(`*** END OF MESSAGE ${id} ***`);
      }),
    );
  queue
    .command('retry [id]')
    .description('attempt delivery now (one message, or --all)')
    .option('--all', 'every message in the queue')
    .action(
      action(async (c, id: string | undefined, options: { all?: boolean }) => {
        if (!id && !options.all) throw new Error('give a queue id or --all');
        const admin = c.queue();
        const { affected } = await unary(admin.retry.bind(admin), { queueId: id ?? '', all: Boolean(options.all) }, c.timeout);
        console.log(`${affected} message(s) scheduled for delivery now`);
      }),
    );
  for (const [verb, description] of [
    ['hold', 'stop delivery attempts for a message until it is released'],
    ['release', 'resume delivery attempts of a held message'],
  ] as const) {
    queue
      .command(`${verb} <id>`)
      .description(description)
      .action(
        action(async (c, id: string) => {
          const admin = c.queue();
          await unary((verb === 'hold' ? admin.hold : admin.release).bind(admin), { queueId: id }, c.timeout);
          console.log(`${id} ${verb === 'hold' ? 'held' : 'released'}`);
        }),
      );
  }
  queue
    .command('delete <id>')
    .description('remove a message from the queue')
    .option('--bounce', 'first tell the sender which recipients did not get it')
    .action(
      action(async (c, id: string, options: { bounce?: boolean }) => {
        const admin = c.queue();
        await unary(admin.delete.bind(admin), { queueId: id, bounce: Boolean(options.bounce) }, c.timeout);
        console.log(`${id} deleted${options.bounce ? ', sender notified' : ''}`);
      }),
    );
}
