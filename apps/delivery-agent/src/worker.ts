// One delivery job of the remote lane (its course, spool read to reported result, is runDeliveryJob's in
// @mail/platform): delivered to the remote domain's servers, or into mailbox-store when the domain turns
// out to be local. Waiting is not done here: queue-manager sends a job only when its destination has
// room, and owns every retry. The only wait left is for a connection slot to one MX host shared by
// several domains.
import type { AcceptedMessage, DeliveryJob, RecipientResult } from '@mail/contracts';
import { encodeBinaryMime } from '@mail/mime';
import { runDeliveryJob, type ResultReporter, type Spool } from '@mail/platform';
import type { LocalDelivery } from './local-delivery.js';
import type { RemoteDelivery } from './remote-delivery.js';
import type { DeliveryEvents } from './events.js';
import type { DkimSigner } from './dkim-signer.js';
import type { DeliveryLedger, LedgerClaim } from './ledger.js';

export class DeliveryWorker {
  constructor(
    private readonly results: ResultReporter,
    private readonly spool: Spool,
    private readonly local: LocalDelivery,
    private readonly remote: RemoteDelivery,
    private readonly ledger: Pick<DeliveryLedger, 'claim'>,
    private readonly events: DeliveryEvents,
    /** Signs what authenticated users of a local domain submitted, before it leaves (remote deliveries only). */
    private readonly signer?: DkimSigner,
  ) {}

  async handle(job: DeliveryJob): Promise<void> {
    await runDeliveryJob(job, { spool: this.spool, results: this.results, events: this.events }, async ({ envelope, message }, domain) => {
      // The remote lane may carry mail for a local domain (a notice to a local sender): mailbox-store
      // decides, asked whether the domain's postmaster is one of its mailboxes.
      if (!(await this.local.hasLocalPostmaster(domain))) return this.deliverRemotely(job, domain, message, envelope);
      // A mailbox is read as lines (POP3): a binary body is encoded for it.
      const stored = envelope.binaryMime ? encodeBinaryMime(message) : message;
      const results: RecipientResult[] = [];
      for (const recipient of job.recipients) results.push(await this.local.deliver(job.queueId, job.sender, recipient, stored));
      return results;
    });
  }

  /**
   * Through the ledger: a recipient a remote server already answered for good is not sent to again, and
   * one that another attempt is delivering right now is left to it.
   */
  private async deliverRemotely(job: DeliveryJob, domain: string, message: Uint8Array, envelope: AcceptedMessage): Promise<RecipientResult[]> {
    let claim: LedgerClaim;
    try {
      claim = await this.ledger.claim(job.queueId, job.jobId, job.recipients);
    } catch (err) {
      // Unknown whether an earlier attempt got through: not sent now, rather than perhaps twice.
      const reply = `451 4.3.0 delivery ledger not reachable: ${(err as Error).message}`;
      return job.recipients.map((recipient) => ({ recipient, outcome: 'temporary', reply }));
    }
    const repeated = [...claim.answered, ...claim.busy];
    if (repeated.length > 0) {
      this.events.emit({ event: 'delivery-repeat-avoided', queueId: job.queueId, jobId: job.jobId, answered: claim.answered.map((r) => r.recipient), busy: claim.busy.map((r) => r.recipient) });
    }
    let sent: RecipientResult[] = [];
    try {
      if (claim.mine.length > 0) sent = await this.send({ ...job, recipients: claim.mine }, domain, message, envelope);
    } finally {
      await claim.finish(sent).catch((err: unknown) => this.events.emit({ event: 'delivery-ledger-unwritten', queueId: job.queueId, reason: (err as Error).message }));
    }
    const byRecipient = new Map([...repeated, ...sent].map((result) => [result.recipient, result]));
    return job.recipients.map((recipient) => byRecipient.get(recipient) ?? { recipient, outcome: 'temporary', reply: '451 4.3.0 no result for this recipient' });
  }

  /** Signed first when an authenticated user of a domain with a key submitted it; a key out of reach is a temporary failure. */
  private async send(job: DeliveryJob, domain: string, message: Uint8Array, envelope: AcceptedMessage): Promise<RecipientResult[]> {
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
