import { defineConfig } from 'vitest/config';

/**
 * `npm run test:package`: the npm package as users get it (test/package), packed from the sources, installed
 * into an empty project and globally, and used from there. It builds in its own copy of the sources and
 * spends most of its time in npm, so it runs as a step of its own after `npm test` (in CI as well) instead
 * of inside the suite.
 */
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
