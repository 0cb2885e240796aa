/** Every snippet target, in the order `snippet --help` lists them: servers first, then clients. */
import { clientTargets } from './clients.js';
import { cloudTargets } from './cloud.js';
import { goTargets } from './go.js';
import { javaTargets } from './java.js';
import type { SnippetTarget } from './model.js';
import { nodeTargets } from './node.js';
import { proxyTargets } from './proxies.js';
import { springTargets } from './spring.js';

export const SNIPPET_TARGETS: readonly SnippetTarget[] = [
  ...springTargets,
  ...javaTargets.filter((t) => t.name === 'tomcat'),
  ...proxyTargets,
  ...cloudTargets,
  ...nodeTargets,
  ...goTargets,
  ...javaTargets.filter((t) => t.name !== 'tomcat'),
  ...clientTargets,
];

export type { Snippet, SnippetInput, SnippetPart, SnippetTarget, SnippetVariable } from './model.js';
