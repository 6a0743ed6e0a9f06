/**
 * A server → client text frame serialised once, WebSocket framing included, so a message fanned
 * out to many members is written to each socket as the same bytes: no per-member JSON, header
 * or copy. Server frames are unmasked (RFC 6455 §5.1), which is what makes them shareable.
 */
export class WireFrame {
  private framed: Buffer | undefined;

  constructor(readonly payload: Buffer) {}

  static text(text: string): WireFrame {
    return new WireFrame(Buffer.from(text));
  }

  /** FIN + opcode 1 (text), then the payload length (RFC 6455 §5.2), then the payload. */
  get bytes(): Buffer {
    if (this.framed) return this.framed;
    const n = this.payload.length;
    const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const out = Buffer.allocUnsafe(headerLength + n);
    out[0] = 0x81;
    if (n < 126) {
      out[1] = n;
    } else if (n < 65536) {
      out[1] = 126;
      out.writeUInt16BE(n, 2);
    } else {
      out[1] = 127;
      out.writeBigUInt64BE(BigInt(n), 2);
    }
    this.payload.copy(out, headerLength);
    this.framed = out;
    return out;
  }
}
