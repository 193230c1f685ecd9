/**
 * The served /openapi document as a validator of real answers: each answer is checked against the
 * schema the document gives for its route, method and status (test/openapi-conformance.e2e.test.ts,
 * and the routes whose models only other e2e tests serve).
 */
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020";

/** The served document, its $refs resolved: path → method → status → media type → schema. */
export type Schemas = Record<
  string,
  Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
>;

// The document is OpenAPI 3.1: its schemas are JSON Schema 2020-12. Unknown keywords (the examples
// the t.* builders carry) are annotations, not errors.
const ajv = new Ajv2020({ strict: false, allErrors: true });

/**
 * The document served at `url`, and what is wrong with an answer by it: the validator's messages, []
 * when the body is exactly what the document says for this route and status (and it has an entry).
 */
export async function servedDocument(url: string) {
  const res = await fetch(`${url}/openapi`);
  if (res.status !== 200) throw new Error(`GET /openapi answered ${res.status}`);
  const paths = (await SwaggerParser.dereference(await res.json())).paths as unknown as Schemas;
  const violations = async (answer: Response, path: string, method = "get"): Promise<string[]> => {
    const body = await answer.json();
    const schema = paths[path]?.[method]?.responses[String(answer.status)]?.content?.["application/json"]?.schema;
    if (!schema) return [`the document has no JSON answer for ${method.toUpperCase()} ${path} ${answer.status}`];
    const validate = ajv.compile(schema);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${path} ${answer.status}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`,
    );
  };
  return { paths, violations };
}
