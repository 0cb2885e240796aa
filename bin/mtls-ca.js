#!/usr/bin/env node
// The bundle of dist/cli (scripts/bundle.js): one module to load instead of ~40 before any command runs.
import { main } from '../dist/bundle/main.js';

// `mtls-ca --help | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
process.exitCode = await main(process.argv.slice(2));
