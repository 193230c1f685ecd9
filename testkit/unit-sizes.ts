import ts from "typescript";

/** A class or function of a file, with where it starts and how many lines it spans. */
export interface CodeUnit {
  kind: "class" | "function";
  name: string;
  line: number;
  lines: number;
}

const isFunction = (node: ts.Node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessor(node) ||
  ts.isSetAccessor(node) ||
  ts.isArrowFunction(node) ||
  ts.isFunctionExpression(node);

/** A unit's name as a reader finds it: its own, its variable's or property's, else its position. */
function nameOf(node: ts.Node, source: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)))
    return parent.name.getText(source);
  return "(anonymous)";
}

/** Every class and function (declarations, methods, arrows, function expressions) of one TypeScript source. */
export function codeUnits(fileName: string, text: string): CodeUnit[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const units: CodeUnit[] = [];
  const visit = (node: ts.Node) => {
    const kind =
      ts.isClassDeclaration(node) || ts.isClassExpression(node) ? "class" : isFunction(node) ? "function" : null;
    if (kind) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      units.push({ kind, name: nameOf(node, source), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return units;
}
