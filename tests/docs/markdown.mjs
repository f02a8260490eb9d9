// The fenced code blocks of a Markdown document, read with markdown-it (a CommonMark parser, HTML on so that
// comments are tokens): shared by the snippet runner and the document checks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import MarkdownIt from "markdown-it";
import { repoRoot } from "../support/server.mjs";

/**
 * Every fenced block of `file` (a path below the repository): [{ file, line, lang, code, heading, comment }] —
 * `heading`: the text of the heading above it; `comment`: an HTML block just before it (e.g. `<!-- doc-test: … -->`),
 * else "".
 */
export function fences(file) {
  const tokens = new MarkdownIt({ html: true }).parse(readFileSync(join(repoRoot, file), "utf8"), {});
  const out = [];
  let heading = "";
  tokens.forEach((token, i) => {
    if (token.type === "heading_open") heading = tokens[i + 1].content;
    if (token.type !== "fence") return;
    const previous = tokens[i - 1];
    out.push({
      file,
      line: token.map[0] + 1,
      lang: token.info.trim().split(/\s+/)[0],
      code: token.content,
      heading,
      comment: previous?.type === "html_block" ? previous.content : "",
    });
  });
  return out;
}
