import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Key pairs and compiled Java programs, made once for every file (and cached between runs).
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Interop tests spawn openssl, keytool, java and chromium; two cores are all we have.
    maxWorkers: 2,
    // Each worker process runs its files one after another with the modules they share loaded once, instead
    // of a fresh process and module graph per file (docs/performance.md, "The test suite"). Test files
    // therefore leave no global state behind: fake timers, umask and servers are restored or closed by their
    // own hooks.
    isolate: false,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
