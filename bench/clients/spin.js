/**
 * A fixed amount of CPU-bound work (SHA-256 of 1 KiB, repeatedly) for D seconds; prints how many hashes it
 * did. Run once alone and twice side by side, it measures how much a second process adds on this machine —
 * the ceiling of any 2-worker speed-up (on a VM two vCPUs can be siblings of one physical core).
 * Usage: node spin.js '{"duration":3}'
 */
import crypto from 'node:crypto';

const { duration } = JSON.parse(process.argv[2]);
const block = Buffer.alloc(1024, 1);
const end = Date.now() + duration * 1000;
let hashes = 0;
while (Date.now() < end) {
  for (let i = 0; i < 1000; i++) crypto.createHash('sha256').update(block).digest();
  hashes += 1000;
}
process.stdout.write(`${JSON.stringify({ hashes })}\n`);
