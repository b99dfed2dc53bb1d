// Public API of the shared MIME codec (RFC 5322, MIME RFC 2045-2049, RFC 2047, RFC 2231).

export { parseHeaders, parseHeaderBlock, getHeader, getHeaders, getDecodedHeader, countHeader, type HeaderField, type ParsedHeaderBlock } from './headers.js';
export { decodeEncodedWords, encodeEncodedWords } from './encoded-word.js';
export { parseAddressList, formatAddress, type Address } from './address.js';
export { parseContentType, parseContentDisposition, parseParams, type ContentType, type ContentDisposition, type Params } from './params.js';
export { parseDate, formatDate } from './date.js';
export { decodeText, decodeCharset, normalizeCharset, isKnownCharset } from './charset.js';
export {
  decodeBase64,
  decodeQuotedPrintable,
  encodeBase64Lines,
  encodeQuotedPrintable,
  createTransferDecoder,
  Base64Decoder,
  QuotedPrintableDecoder,
  type TransferDecoder,
  type TransferEncoding,
} from './transfer-encoding.js';
export type { PartInfo, PartKind, Defect } from './part.js';
export { MimeStreamParser, type StreamHandlers, type ParserLimits } from './stream-parser.js';
export { parseMessage, walkParts, isBodyText, type MimePart, type ParsedMessage, type ParseOptions } from './tree.js';
export { buildMessage, buildPart, messageBody, makeBoundary, chooseTransferEncoding, type BuildPart, type MessageInput, type MailboxInput, type GroupInput, type AddressInput, type AttachmentInput } from './builder.js';
export { foldHeader, formatParam, encodeUnstructured } from './fold.js';
export { buildDsn, withoutReturnedContent, type DsnInput, type DsnRecipient, type DsnAction } from './dsn.js';
export { downgradeTo7bit, downgradeTo7bitDetailed, encodeBinaryMime, type DowngradeResult } from './downgrade.js';
export { formatDkimKeyRecord } from './dkim-record.js';
