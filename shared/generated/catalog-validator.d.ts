// Types of the GENERATED ajv standalone validator (scripts/build-catalog.ts).

export interface ValidationError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

export interface StandaloneValidator {
  (data: unknown): boolean;
  errors?: ValidationError[] | null;
}

/** The whole catalog file (schemas/templates.schema.json). */
export const validateCatalog: StandaloneValidator;
/** One template entry (`#/definitions/template`). */
export const validateTemplate: StandaloneValidator;
