import { readFile, stat } from 'node:fs/promises';
import { ERROR_CODES, messageOf, PushProxError, type ErrorCode } from '@pushprox/shared';

/** A token file's token: the first word of its first line that is not blank or a `#` comment. */
export function firstToken(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .find((l) => l !== '')
    ?.split(/\s+/)[0];
}

/**
 * `--token-path` (rancher's fork): a file whose trimmed content is sent as
 * `Authorization: Bearer <token>` to scraped targets. The file rotates (e.g.
 * a Kubernetes projected service-account token, swapped by symlink), so it is
 * looked at on every scrape; the content is cached by (inode, mtime, size) so
 * a scrape costs one stat unless the file changed.
 */
export class TokenFile {
  readonly path: string;
  readonly #errorCode: ErrorCode;
  #cached: { readonly key: string; readonly authorization: string } | undefined;

  /** `errorCode`: code of the errors thrown (default CLIENT_SCRAPE_FAILED; CONFIG_INVALID at startup). */
  constructor(path: string, errorCode: ErrorCode = ERROR_CODES.CLIENT_SCRAPE_FAILED) {
    this.path = path;
    this.#errorCode = errorCode;
  }

  /** `Bearer <token>`; throws a PushProxError naming --token-path and the file when it is unreadable or empty. */
  async authorization(): Promise<string> {
    try {
      const st = await stat(this.path);
      const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (this.#cached?.key === key) return this.#cached.authorization;
      const token = (await readFile(this.path, 'utf8')).trim();
      if (token === '') throw new Error('the file is empty, expected a bearer token');
      if (/[\r\n]/.test(token)) throw new Error('expected a single-line bearer token, found a line break');
      const authorization = `Bearer ${token}`;
      this.#cached = { key, authorization };
      return authorization;
    } catch (err) {
      this.#cached = undefined;
      throw new PushProxError(this.#errorCode, `cannot read --token-path file ${JSON.stringify(this.path)}: ${messageOf(err)}`, {
        cause: err,
      });
    }
  }
}
