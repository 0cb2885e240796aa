/**
 * Every question mtls-ca asks: the only inquirer import, loaded lazily (it is only needed on a TTY). Each
 * prompt has a flag or environment variable, and nothing prompts without a terminal.
 */
import type { Io } from './io.js';

async function ask<T>(io: Io, question: Record<string, unknown>): Promise<T> {
  const { default: inquirer } = await import('inquirer');
  const prompt = inquirer.createPromptModule({ input: io.stdin, output: io.stderr } as never);
  const answers = (await prompt([{ name: 'value', ...question }] as never)) as { value: T };
  return answers.value;
}

export function askText(io: Io, message: string, defaultValue?: string): Promise<string> {
  return ask<string>(io, { type: 'input', message, default: defaultValue });
}

/**
 * Asks for a password.
 * @param opts.confirm - ask twice, until both entries match
 * @param opts.allowEmpty - accept an empty answer and return '' (meaning "generate one")
 * @param opts.check - a reason to refuse an entry, or undefined to accept it; a refused entry is asked for
 *   again (before any confirmation), after the reason is shown
 */
export async function askPassword(
  io: Io,
  message: string,
  opts: { confirm?: boolean; allowEmpty?: boolean; check?: (value: string) => string | undefined } = {},
): Promise<string> {
  for (;;) {
    const first = await ask<string>(io, {
      type: 'password',
      message,
      mask: '*',
      validate: (v: string) => opts.allowEmpty || v.length > 0 || 'The password cannot be empty',
    });
    const refused = first === '' ? undefined : opts.check?.(first);
    if (refused) {
      io.stderr.write(`${refused}; try again.\n`);
      continue;
    }
    if (!opts.confirm || first === '') return first;
    const second = await ask<string>(io, { type: 'password', message: 'Repeat it', mask: '*' });
    if (first === second) return first;
    io.stderr.write('The passwords differ; try again.\n');
  }
}
