/**
 * The commands that replace or move the CA itself, killed at every step of the commit protocol and recovered:
 * see crash-safety.test.ts for what is checked and why it is enough (its half of the commands runs beside this
 * one).
 */
import { describeKilledCommands } from './kill-and-recover.js';

describeKilledCommands(
  'a command that replaces the CA, killed at any system call: the next command repairs it',
  [
    { name: 'init --force', args: ['init', '--force'] },
    { name: 'import --force', args: ['import', '--from', 'openssl', 'SOURCE', '--force'] },
    { name: 'ca rotate', args: ['ca', 'rotate'] },
    { name: 'root export', args: ['root', 'export', '--out', 'OUT'], template: 'intermediate' },
  ],
);
