// Node's node.exe is Authenticode-signed. Injecting a program changes the
// file, so that signature would no longer match it: Windows would show a
// broken signature rather than none (postject warns "The signature seems
// corrupted"). Node's single-executable documentation removes it before the
// injection (`signtool remove /s`); this does the same without Windows.
// Layout: Microsoft's PE format specification ("Optional Header Data
// Directories", "The Attribute Certificate Table").
import { readFileSync, writeFileSync } from 'node:fs';

const PE32_PLUS = 0x20b;
/** Offsets inside a PE32+ optional header. */
const CHECKSUM = 64;
const NUMBER_OF_RVA_AND_SIZES = 108;
const DATA_DIRECTORIES = 112;
/** Data directory 4: the certificate table; its "address" is a file offset, not an RVA. */
const SECURITY_DIRECTORY = 4;

/**
 * Removes the certificate table of the PE32+ file `file` (the table and its
 * directory entry; the header checksum, which Windows checks for drivers
 * only, becomes 0). Returns whether there was one. Anything that is not a
 * PE32+ image with its certificates at the end fails with what was found.
 */
export function removeAuthenticode(file) {
  const buf = readFileSync(file);
  if (buf.length < 0x40 || buf.toString('latin1', 0, 2) !== 'MZ') throw new Error(`${file}: expected a PE file starting with MZ`);
  const pe = buf.readUInt32LE(0x3c);
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error(`${file}: expected the PE signature at 0x${pe.toString(16)}`);
  const optional = pe + 4 + 20;
  const magic = buf.readUInt16LE(optional);
  if (magic !== PE32_PLUS) throw new Error(`${file}: expected a PE32+ optional header (0x20b), got 0x${magic.toString(16)}`);
  if (buf.readUInt32LE(optional + NUMBER_OF_RVA_AND_SIZES) <= SECURITY_DIRECTORY) return false;
  const entry = optional + DATA_DIRECTORIES + 8 * SECURITY_DIRECTORY;
  const at = buf.readUInt32LE(entry);
  const size = buf.readUInt32LE(entry + 4);
  if (size === 0) return false;
  // The table is the last thing in a signed image, padded to 8 bytes.
  if (at + size > buf.length || Math.ceil((at + size) / 8) * 8 < buf.length) {
    throw new Error(`${file}: expected the certificate table at the end of the file (${buf.length} bytes), got ${size} bytes at ${at}`);
  }
  buf.writeUInt32LE(0, entry);
  buf.writeUInt32LE(0, entry + 4);
  buf.writeUInt32LE(0, optional + CHECKSUM);
  writeFileSync(file, buf.subarray(0, at));
  return true;
}
