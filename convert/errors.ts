/** A conversion failure the user can act on: it names the file (or model) at fault. */
export class ConvertError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "ConvertError";
  }
}
