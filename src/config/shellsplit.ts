import { ConfigError } from '../errors.js';

/**
 * Splits TSGUNICORN_CMD_ARGS the way a POSIX shell splits words (Python's shlex.split, as
 * Gunicorn does for GUNICORN_CMD_ARGS): whitespace separates, single quotes are literal,
 * double quotes allow \" \\ \$ \` escapes, a backslash outside quotes escapes the next character.
 * No expansion of any kind happens: the value is data, not a script.
 */
export function shellSplit(input: string, setting = 'TSGUNICORN_CMD_ARGS'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new ConfigError(setting, input, 'unterminated single quote');
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= input.length) throw new ConfigError(setting, input, 'unterminated double quote');
        const d = input[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < input.length && '"\\$`\n'.includes(input[i + 1]!)) {
          if (input[i + 1] !== '\n') word += input[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= input.length) throw new ConfigError(setting, input, 'trailing backslash');
      if (input[i + 1] !== '\n') word += input[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
