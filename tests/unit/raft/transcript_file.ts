// Transcript tests of the core, after etcd-io/raft's testdata interaction tests (the idea is
// theirs; the format and the code are ours): a text file of commands, each followed by the
// output it must produce, so a reader can follow a scenario message by message.
//
// Format: lines starting with `#` and blank lines are comments, kept as they are. A block is
// a command line, a `----` line, and the expected output up to the next blank line (output
// never contains a blank line). A command with no output prints `ok`.

export interface Block {
  /** Comment and blank lines before the command, kept verbatim. */
  readonly pre: readonly string[];
  readonly command: string;
  /** 1-based line of the command in its file. */
  readonly line: number;
  readonly expected: readonly string[];
}

export interface Transcript {
  readonly blocks: readonly Block[];
  /** Comment lines after the last block. */
  readonly tail: readonly string[];
}

export function parseTranscript(text: string): Transcript {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const blocks: Block[] = [];
  let pre: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === "" || line.startsWith("#")) {
      pre.push(line);
      i++;
      continue;
    }
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 2}: expected ---- after the command "${line}"`);
    const expected: string[] = [];
    let j = i + 2;
    for (; j < lines.length && (lines[j] as string).trim() !== ""; j++) expected.push(lines[j] as string);
    blocks.push({ pre, command: line, line: i + 1, expected });
    pre = [];
    i = j;
  }
  return { blocks, tail: pre };
}

/** The transcript with `outputs` as each block's expectation (what REWRITE=1 writes). */
export function renderTranscript(t: Transcript, outputs: readonly (readonly string[])[]): string {
  const lines: string[] = [];
  t.blocks.forEach((b, i) => lines.push(...b.pre, b.command, "----", ...(outputs[i] ?? [])));
  lines.push(...t.tail);
  return `${lines.join("\n")}\n`;
}

/** The first block whose output differs from its expectation, described; null if none. */
export function firstMismatch(name: string, t: Transcript, outputs: readonly (readonly string[])[]): string | null {
  for (const [i, b] of t.blocks.entries()) {
    const actual = outputs[i] ?? [];
    if (actual.join("\n") === b.expected.join("\n")) continue;
    let k = 0;
    while (actual[k] === b.expected[k]) k++;
    // The expected output starts two lines below the command (after `----`).
    return `${name}:${b.line}: ${b.command}\n` +
      `first difference at line ${b.line + 2 + k}:\n- ${b.expected[k] ?? "(nothing)"}\n+ ${actual[k] ?? "(nothing)"}\n` +
      `--- expected\n${b.expected.join("\n")}\n--- actual\n${actual.join("\n")}\n` +
      "(run with REWRITE=1 to accept the actual output)";
  }
  return null;
}
