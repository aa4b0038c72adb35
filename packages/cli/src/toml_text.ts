/**
 * Where things are in a TOML text, for edits that leave every other byte as it was: table headers, key/value
 * statements (with the table they belong to) and the items of an array value. Strings, comments and multi-line
 * values are skipped as TOML reads them. Callers check each edit's meaning with a real parser (smol-toml).
 */

/** A table header or a key/value statement, by position. */
export interface Statement {
  kind: "table" | "array-table" | "value";
  /** The key a value has in the whole document (its table's key, then its own dotted key); a header's name. */
  path: string[];
  /** The statement's first character, and the end of its line (after the newline, or the end of the text). */
  start: number;
  lineEnd: number;
  /** Where a value starts and ends (for headers, the end of the header). */
  valueStart: number;
  valueEnd: number;
}

/** A span of the text: [start, end). */
export interface Span {
  start: number;
  end: number;
}

export class TomlTextError extends Error {}

function fail(s: string, i: number, what: string): never {
  const line = s.slice(0, i).split("\n").length;
  throw new TomlTextError(`${what} at line ${line}`);
}

function skipSpaces(s: string, i: number): number {
  while (s[i] === " " || s[i] === "\t" || s[i] === "\r") i++;
  return i;
}

function skipComment(s: string, i: number): number {
  if (s[i] === "#") { while (i < s.length && s[i] !== "\n") i++; }
  return i;
}

/** Skips spaces, comments and newlines (between the items of an array). */
function skipBlank(s: string, i: number): number {
  for (;;) {
    const j = skipComment(s, skipSpaces(s, i));
    if (s[j] !== "\n") return j;
    i = j + 1;
  }
}

/** The index after the string that starts at `i` (basic, literal, or either multi-line form). */
function skipString(s: string, i: number): number {
  const q = s[i];
  const triple = q.repeat(3);
  if (s.startsWith(triple, i)) {
    for (let j = i + 3; j < s.length; j++) {
      if (q === '"' && s[j] === "\\") j++;
      else if (s.startsWith(triple, j)) {
        j += 3;
        // Up to two more quotes still belong to the string: """a""""" is a followed by two quotes.
        for (let k = 0; k < 2 && s[j] === q; k++) j++;
        return j;
      }
    }
    fail(s, i, "Unterminated multi-line string");
  }
  for (let j = i + 1; j < s.length && s[j] !== "\n"; j++) {
    if (q === '"' && s[j] === "\\") j++;
    else if (s[j] === q) return j + 1;
  }
  fail(s, i, "Unterminated string");
}

/** The index after the value that starts at `i`; an array's items are pushed onto `items` when given. */
function skipValue(s: string, i: number, items?: Span[]): number {
  const c = s[i];
  if (c === '"' || c === "'") return skipString(s, i);
  if (c === "[") {
    let j = skipBlank(s, i + 1);
    while (s[j] !== "]") {
      const start = j;
      j = skipValue(s, j);
      items?.push({ start, end: j });
      j = skipBlank(s, j);
      if (s[j] === ",") j = skipBlank(s, j + 1);
      else if (s[j] !== "]") fail(s, j, "Expected , or ] in an array");
    }
    return j + 1;
  }
  if (c === "{") {
    let j = skipBlank(s, i + 1);
    while (s[j] !== "}") {
      j = skipSpaces(s, readKey(s, j).end);
      if (s[j] !== "=") fail(s, j, "Expected = in an inline table");
      j = skipBlank(s, skipValue(s, skipSpaces(s, j + 1)));
      if (s[j] === ",") j = skipBlank(s, j + 1);
      else if (s[j] !== "}") fail(s, j, "Expected , or } in an inline table");
    }
    return j + 1;
  }
  // A number, boolean or date: up to a separator or the end of the line (a date may hold one space).
  let j = i;
  while (j < s.length && !",]}#\n".includes(s[j])) j++;
  while (j > i && " \t\r".includes(s[j - 1])) j--;
  if (j === i) fail(s, i, "Expected a value");
  return j;
}

const BARE_KEY = /[A-Za-z0-9_-]+/y;

/** A key (bare, quoted or dotted) starting at `i`, decoded. */
function readKey(s: string, i: number): { path: string[]; end: number } {
  const path: string[] = [];
  for (;;) {
    i = skipSpaces(s, i);
    if (s[i] === '"' || s[i] === "'") {
      const end = skipString(s, i);
      const raw = s.slice(i, end);
      path.push(raw[0] === "'" ? raw.slice(1, -1) : JSON.parse(raw));
      i = end;
    } else {
      BARE_KEY.lastIndex = i;
      const m = BARE_KEY.exec(s);
      if (!m) fail(s, i, "Expected a key");
      path.push(m[0]);
      i += m[0].length;
    }
    i = skipSpaces(s, i);
    if (s[i] !== ".") return { path, end: i };
    i++;
  }
}

function endOfLine(s: string, i: number): number {
  i = skipComment(s, skipSpaces(s, i));
  if (i < s.length && s[i] !== "\n") fail(s, i, "Expected the end of the line");
  return i < s.length ? i + 1 : i;
}

/** Every table header and key/value statement of `s`, in order. Throws TomlTextError on what it cannot read. */
export function statements(s: string): Statement[] {
  const out: Statement[] = [];
  let table: string[] = [];
  let i = 0;
  while (i < s.length) {
    i = skipComment(s, skipSpaces(s, i));
    if (i >= s.length) break;
    if (s[i] === "\n") {
      i++;
      continue;
    }
    const start = i;
    if (s[i] === "[") {
      const array = s[i + 1] === "[";
      const key = readKey(s, i + (array ? 2 : 1));
      let j = key.end;
      if (s[j] !== "]" || (array && s[j + 1] !== "]")) fail(s, j, "Expected ] after a table name");
      j += array ? 2 : 1;
      table = key.path;
      const lineEnd = endOfLine(s, j);
      out.push({
        kind: array ? "array-table" : "table",
        path: key.path,
        start,
        lineEnd,
        valueStart: j,
        valueEnd: j,
      });
      i = lineEnd;
    } else {
      const key = readKey(s, i);
      const eq = skipSpaces(s, key.end);
      if (s[eq] !== "=") fail(s, eq, "Expected = after a key");
      const valueStart = skipSpaces(s, eq + 1);
      const valueEnd = skipValue(s, valueStart);
      const lineEnd = endOfLine(s, valueEnd);
      out.push({ kind: "value", path: [...table, ...key.path], start, lineEnd, valueStart, valueEnd });
      i = lineEnd;
    }
  }
  return out;
}

/** The items of the array value that starts at `start`. */
export function arrayItems(s: string, start: number): Span[] {
  if (s[start] !== "[") fail(s, start, "Expected an array");
  const items: Span[] = [];
  skipValue(s, start, items);
  return items;
}
