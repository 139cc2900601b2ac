// Finds the metric names a PromQL expression reads, so a test can check each one against what the
// app really exports. A small lexer, not a full parser: it drops strings, label matchers, range
// and offset durations, and the label lists of by/without/on/ignoring/group_*, then keeps the
// identifiers that are not functions, keywords or aggregation operators.

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "offset",
  "inf",
  "nan",
  // Aggregation operators may be written without parentheses right after them (`sum by (x) (...)`).
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);

const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

/** Metric names (including recording-rule names) referenced by a PromQL expression. */
export function metricNames(expression: string): Set<string> {
  // Strings first (they may contain braces or brackets), then matchers and durations.
  const rest = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+-?[0-9a-z]+/gi, " ")
    .replace(/@\s*(start\(\)|end\(\)|[0-9.]+)/g, " ");
  const names = new Set<string>();
  const token = /[a-zA-Z_:][a-zA-Z0-9_:]*|\(|\)|[0-9.]+(?:e[+-]?\d+)?/g;
  let skipLabelList = false;
  let depth = 0;
  for (let match = token.exec(rest); match; match = token.exec(rest)) {
    const word = match[0];
    if (skipLabelList) {
      // Inside `by (a, b)`: skip to the matching parenthesis.
      if (word === "(") depth++;
      else if (word === ")" && --depth === 0) skipLabelList = false;
      continue;
    }
    if (word === "(" || word === ")" || /^[0-9.]/.test(word)) continue;
    const lower = word.toLowerCase();
    if (LABEL_LIST_KEYWORDS.has(lower)) {
      const after = rest.slice(token.lastIndex).trimStart();
      if (after.startsWith("(")) {
        skipLabelList = true;
        depth = 0;
      }
      continue;
    }
    if (KEYWORDS.has(lower)) continue;
    // A function call: the identifier is directly followed by "(".
    if (rest.slice(token.lastIndex).trimStart().startsWith("(")) continue;
    names.add(word);
  }
  return names;
}

/** Histogram and summary series are exported under their family name; map a series name to it. */
export function metricFamily(name: string): string {
  return name.replace(/_(bucket|count|sum)$/, "");
}
