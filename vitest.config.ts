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
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
