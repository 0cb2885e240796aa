/**
 * 1. Start-up: `mtls-ca --version` against `node -e 0`, the floor any Node CLI starts from. Runs alternate
 * (ours, theirs, ours, …) so that a slow moment of the machine hits both sides.
 */
import { BIN, NODE, summarize, timeRun } from '../lib/util.js';

const WARMUP = 3;
const RUNS = 30;

export async function run() {
  const ours = [];
  const node = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const a = timeRun(NODE, [BIN, '--version']).ms;
    const b = timeRun(NODE, ['-e', '0']).ms;
    if (i >= WARMUP) {
      ours.push(a);
      node.push(b);
    }
  }
  const o = summarize(ours);
  const t = summarize(node);
  return {
    title: 'Start-up: `mtls-ca --version` vs `node -e 0`',
    method: `${RUNS} alternating runs each after ${WARMUP} warm-up runs; wall time of spawnSync, ms`,
    rows: [
      {
        case: '--version',
        ours: o,
        theirs: t,
        theirsName: 'node -e 0',
        unit: 'ms',
        ratio: o.median / t.median,
        target: '<= 1.5x',
        met: o.median / t.median <= 1.5,
      },
    ],
  };
}
