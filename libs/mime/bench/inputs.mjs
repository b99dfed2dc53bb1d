// Generated benchmark inputs, shared by bench/run.mjs and bench/memory.mjs.
import { randomBytes } from 'node:crypto';
import { buildMessage } from '../dist/index.js';

/** ~120 KB: text + html alternatives and two attachments (60 KB pdf, 25 KB jpeg). */
export function typicalMessage(i) {
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor'.split(' ');
  const text = Array.from({ length: 150 }, (_, k) => words[(i + k) % words.length]).join(' ').replace(/(.{70}) /g, '$1\n');
  return buildMessage({
    from: { name: 'Sender Name', address: 'sender@example.com' },
    to: ['rcpt@example.org'],
    subject: `Report ${i} — quarterly numbers`,
    text,
    html: `<html><body><p>${text.replace(/\n/g, '<br>')}</p></body></html>`,
    attachments: [
      { filename: `report-${i}.pdf`, content: randomBytes(60_000), contentType: 'application/pdf' },
      { filename: `photo-${i}.jpg`, content: randomBytes(25_000), contentType: 'image/jpeg' },
    ],
  });
}

export function makeTypical() {
  return Array.from({ length: 1000 }, (_, i) => typicalMessage(i));
}

/** One 20 MB message: a short text and a 15 MB attachment (base64). */
export function makeBig() {
  return buildMessage({ from: 'a@example.com', to: ['b@example.com'], subject: 'big', text: 'see attachment', attachments: [{ filename: 'big.bin', content: randomBytes(15 * 1024 * 1024 - 1000) }] });
}
