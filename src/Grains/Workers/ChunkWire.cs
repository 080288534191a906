using System.Buffers.Binary;
using System.Text;

namespace GrowLength.Grains.Workers;

/// <summary>The byte layout of the gradient data plane (<see cref="GradientListener"/>, <see cref="SocketChunkSender"/>):
/// one handshake, then frames, all one way from a ring member to its right neighbour.</summary>
/// <remarks>
/// Handshake: "GLX1", the receiving worker's grain key (uint16 length, UTF-8) and the 16-byte token that worker handed out
/// through a cluster-internal call; the listener answers one byte, <see cref="Accepted"/> or <see cref="Refused"/>.
/// Frame: a 36-byte header (epoch, step: int64; bucket, round, segment, chunk, payload bytes: int32; little-endian),
/// then the payload, fp32 gradient elements as they lie in memory.
/// </remarks>
internal static class ChunkWire
{
    public const int HeaderBytes = 36;
    public const int TokenBytes = 16;
    public const byte Accepted = 1;
    public const byte Refused = 0;

    /// <summary>Socket buffers big enough for a whole chunk, so a write rarely waits for the reader to drain.</summary>
    public const int SocketBufferBytes = 8 << 20;

    /// <summary>The largest payload a frame may announce: a chunk is at most GradientChunkBytes, which validation keeps
    /// far below this; a header beyond it is garbage, not a chunk.</summary>
    public const int MaxPayload = 1 << 30;

    private static ReadOnlySpan<byte> Magic => "GLX1"u8;

    /// <summary>The handshake a sender writes first.</summary>
    public static byte[] Hello(string workerKey, ReadOnlySpan<byte> token)
    {
        if (token.Length != TokenBytes) throw new ArgumentException($"a token has {TokenBytes} bytes", nameof(token));
        var key = Encoding.UTF8.GetBytes(workerKey);
        var hello = new byte[Magic.Length + 2 + key.Length + TokenBytes];
        Magic.CopyTo(hello);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(4), checked((ushort)key.Length));
        key.CopyTo(hello, 6);
        token.CopyTo(hello.AsSpan(6 + key.Length));
        return hello;
    }

    /// <summary>Reads a handshake: the worker key and token, or null when the bytes are not one.</summary>
    public static (string WorkerKey, byte[] Token)? ReadHello(Stream stream)
    {
        var head = new byte[6];
        stream.ReadExactly(head);
        if (!head.AsSpan(0, 4).SequenceEqual(Magic)) return null;
        var rest = new byte[BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(4)) + TokenBytes];
        stream.ReadExactly(rest);
        return (Encoding.UTF8.GetString(rest, 0, rest.Length - TokenBytes), rest[^TokenBytes..]);
    }

    public static void WriteHeader(Span<byte> header, long epoch, long step, int bucket, int round, int segment, int chunk, int payload)
    {
        BinaryPrimitives.WriteInt64LittleEndian(header, epoch);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], step);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], bucket);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], round);
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], segment);
        BinaryPrimitives.WriteInt32LittleEndian(header[28..], chunk);
        BinaryPrimitives.WriteInt32LittleEndian(header[32..], payload);
    }

    /// <summary>A frame's header: where its chunk belongs and how many payload bytes follow.</summary>
    public static (long Epoch, long Step, int Bucket, int Round, int Segment, int Chunk, int Payload) ReadHeader(ReadOnlySpan<byte> header) =>
        (BinaryPrimitives.ReadInt64LittleEndian(header), BinaryPrimitives.ReadInt64LittleEndian(header[8..]),
         BinaryPrimitives.ReadInt32LittleEndian(header[16..]), BinaryPrimitives.ReadInt32LittleEndian(header[20..]),
         BinaryPrimitives.ReadInt32LittleEndian(header[24..]), BinaryPrimitives.ReadInt32LittleEndian(header[28..]),
         BinaryPrimitives.ReadInt32LittleEndian(header[32..]));
}
