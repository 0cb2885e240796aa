import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The release check (pack, install, use the package: a full build and two npm installs) is
    // `npm run test:package`, with its own config, which CI runs after this suite.
    exclude: [...configDefaults.exclude, 'test/package/**'],
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
