// One delivery job of the remote lane: read the message from the spool, deliver it (to the remote
// domain's servers, or into mailbox-store when the domain turns out to be local), and report a result per
// recipient to queue-manager — always, whatever happened, because queue-manager counts the job against
// its destination until the result comes. Waiting is not done here: queue-manager sends a job only when
// its destination has room, and owns every retry. The only wait left is for a connection slot to one MX
// host shared by several domains.
import type { AcceptedMessage, DeliveryJob, RecipientResult } from '@mail/contracts';
import { encodeBinaryMime } from '@mail/mime';
import type { ResultReporter, Spool } from '@mail/platform';
import type { LocalDelivery } from './local-delivery.js';
import type { RemoteDelivery } from './remote-delivery.js';
import type { DeliveryEvents } from './events.js';
import type { DkimSigner } from './dkim-signer.js';

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export class DeliveryWorker {
  constructor(
    private readonly results: ResultReporter,
    private readonly spool: Spool,
    private readonly local: LocalDelivery,
    private readonly remote: RemoteDelivery,
    private readonly events: DeliveryEvents,
    /** Signs what authenticated users of a local domain submitted, before it leaves (remote deliveries only). */
    private readonly signer?: DkimSigner,
  ) {}

  async handle(job: DeliveryJob): Promise<void> {
    const domain = job.domain || domainOf(job.recipients[0]!);
    const spooled = await this.spool.readWithEnvelope(job.queueId);
    if (!spooled) {
      // Only queue-manager removes spooled bytes, once every destination is settled: a stale job, or a
      // lost spool. queue-manager tells which; it must hear of it either way.
      this.events.emit({ event: 'job-dropped', queueId: job.queueId, jobId: job.jobId });
      await this.results.report({ queueId: job.queueId, jobId: job.jobId, results: [], spoolMissing: true });
      return;
    }
    const { message, envelope } = spooled;
    const started = performance.now();
    // The remote lane may carry mail for a local domain (a notice to a local sender): mailbox-store decides,
    // asked whether the domain's postmaster is one of its mailboxes.
    const isLocal = await this.local.hasLocalPostmaster(domain);
    let results: RecipientResult[];
    if (isLocal) {
      results = [];
      // A mailbox is read as lines (POP3): a binary body is encoded for it.
      const stored = envelope.binaryMime ? encodeBinaryMime(message) : message;
      for (const recipient of job.recipients) results.push(await this.local.deliver(job.queueId, job.sender, recipient, stored));
    } else {
      results = await this.deliverRemotely(job, domain, message, envelope);
    }
    const seconds = (performance.now() - started) / 1000;
    await this.results.report({ queueId: job.queueId, jobId: job.jobId, results });
    this.events.emit({ event: 'job-done', queueId: job.queueId, jobId: job.jobId, domain, results, seconds });
  }

  /** Signed first when an authenticated user of a domain with a key submitted it; a key out of reach is a temporary failure. */
  private async deliverRemotely(job: DeliveryJob, domain: string, message: Uint8Array, envelope: AcceptedMessage): Promise<RecipientResult[]> {
    let outgoing: Uint8Array;
    try {
      outgoing = this.signer ? await this.signer.sign(message, envelope.submittedBy, { binaryMime: envelope.binaryMime, smtputf8: envelope.smtputf8 }) : message;
    } catch (err) {
      const reply = `451 4.3.0 cannot sign with DKIM now: ${(err as Error).message}`;
      return job.recipients.map((recipient) => ({ recipient, outcome: 'temporary', reply }));
    }
    const dsn = job.ret || job.envid !== undefined || job.recipientDsn ? { ret: job.ret, envid: job.envid, recipients: job.recipientDsn } : undefined;
    return this.remote.deliver({
      queueId: job.queueId,
      domain,
      sender: job.sender,
      recipients: job.recipients,
      smtputf8: job.smtputf8,
      binaryMime: envelope.binaryMime,
      message: outgoing,
      requireTls: envelope.requireTls ?? false,
      ...(dsn ? { dsn } : {}),
    });
  }

}
