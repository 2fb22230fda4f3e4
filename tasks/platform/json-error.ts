// Where a JSON text goes wrong, as line and column: V8's messages give a position for some
// errors and none for others ("Unexpected token '}', ...").  A small scanner over the grammar
// finds the first offset that cannot continue a valid document.

/** "line 3, column 27: unexpected '}'" for the first error in `text`, or undefined when it parses. */
export function locateJsonError(text: string): string | undefined {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(what);
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const describe = () => (i >= text.length ? 'the text ends too early' : `unexpected ${JSON.stringify(text[i])}`);
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(describe());
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail('a control character inside a string');
      i++;
    }
    if (i >= text.length) fail('a string is not closed');
    i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`${describe()} where a "quoted" field name belongs`);
        string();
        ws();
        if (text[i] !== ':') fail(`${describe()} where ':' belongs`);
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail(`${describe()} where ',' or '}' belongs`);
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail(`${describe()} where ',' or ']' belongs`);
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c !== undefined && /[-0-9]/.test(c)) {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) fail(describe());
      i += m![0].length;
    } else fail(`${describe()} where a value belongs`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`${describe()} after the end of the document`);
    return undefined;
  } catch (error) {
    const before = text.slice(0, i).split('\n');
    return `line ${before.length}, column ${before.at(-1)!.length + 1}: ${(error as Error).message}`;
  }
}
