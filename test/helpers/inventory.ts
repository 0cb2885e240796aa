/** Inventory lines made without the CLI: synthetic events, and what the CLI's appends write for them. */
import type { InventoryEvent, IssueEvent } from '../../src/store/inventory.js';
import { encodeInventoryAppend } from '../../src/store/inventory-index.js';
import { encodeNameAppend } from '../../src/store/name-index.js';

/** An issue event of a client certificate named `name`, with `extra` fields replaced. */
export function issueEvent(serial: string, name: string, extra: Partial<IssueEvent> = {}): IssueEvent {
  return {
    op: 'issue',
    serial,
    name,
    profile: 'client',
    subject: `CN=${name}`,
    issuer: 'CN=ca',
    keyType: 'ecdsa-p256',
    notBefore: '2026-01-02T03:04:05.000Z',
    notAfter: '2027-01-02T03:04:05.000Z',
    fingerprint: 'AB:CD',
    issuedAt: '2026-01-02T03:09:05.000Z',
    files: [`client/${name}.crt`],
    ...extra,
  };
}

/**
 * What the CLI appends to inventory.jsonl, inventory.idx and inventory.names for these batches, one commit
 * each, the log being `bytes` long before the first.
 */
export function encodeBatches(
  batches: Iterable<InventoryEvent[]>,
  bytes: number,
): { log: string; index: string; names: string } {
  const log: string[] = [];
  const index: string[] = [];
  const names: string[] = [];
  for (const events of batches) {
    const batch = encodeInventoryAppend(events, bytes);
    log.push(batch.jsonl);
    index.push(batch.index);
    names.push(encodeNameAppend(events, batch.inventoryBytes));
    bytes = batch.inventoryBytes;
  }
  return { log: log.join(''), index: index.join(''), names: names.join('') };
}
