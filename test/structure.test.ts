/**
 * Dependencies point one way: no cycle between the folders of src/, where each subfolder counts
 * as one node and each file directly in src/ as its own. Type-only imports count: they tie the
 * layers together just the same. There were three before 1.0 (crypto ⇄ envelope, keys.ts ⇄
 * envelope, replay ⇄ verifier.ts); this fails on the first two.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** `crypto/` for src/crypto/**, `keys.ts` for src/keys.ts. */
function nodeOf(file: string): string {
  const parts = relative(src, file).split('/');
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!;
}

/** Folder → folders it imports from, each with one example import. */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(src)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const visit = (node: ts.Node): void => {
      const specifier =
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined
          ? node.moduleSpecifier
          : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
            ? node.arguments[0]
            : undefined;
      if (specifier !== undefined && ts.isStringLiteral(specifier) && specifier.text.startsWith('.')) {
        const target = resolve(dirname(file), specifier.text.replace(/\.js$/, '.ts'));
        const [from, to] = [nodeOf(file), nodeOf(target)];
        if (from !== to) {
          if (!graph.has(from)) graph.set(from, new Map());
          graph.get(from)!.set(to, `${relative(src, file)} → ${relative(src, target)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return graph;
}

/** Every cycle found by a depth-first search, as the imports that close it. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const walk = (node: string): void => {
    if (path.includes(node)) {
      const loop = [...path.slice(path.indexOf(node)), node];
      found.push(loop.slice(1).map((to, i) => graph.get(loop[i]!)!.get(to)!));
      return;
    }
    if (done.has(node)) return;
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) walk(next);
    path.pop();
    done.add(node);
  };
  for (const node of graph.keys()) walk(node);
  return found;
}

describe('the folders of src/', () => {
  it('import each other without a cycle', () => {
    const graph = folderGraph();
    expect(graph.get('transport/')?.has('envelope/')).toBe(true); // the graph is read at all
    expect(cycles(graph)).toEqual([]);
  });
});
