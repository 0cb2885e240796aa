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
    // of a fresh process and module graph per file: about 12% of the suite's CPU (measured: 224 → 196 CPU-s).
    // Test files therefore leave no global state behind (fake timers, umask and servers are restored or
    // closed by their own hooks). To undo: remove this line.
    isolate: false,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
