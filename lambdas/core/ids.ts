import { createHash } from 'node:crypto';

/**
 * A UUID-shaped id derived from `key` (RFC 9562 version 8, from SHA-256):
 * the same key always names the same execution, so a redelivered trigger
 * event starts nothing new.
 */
export function uuidFromKey(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 32).split('');
  hex[12] = '8';
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
